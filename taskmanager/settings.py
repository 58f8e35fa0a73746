"""Settings for every environment, read from the environment.

Nothing set gives the embedded defaults (SQLite, local-memory cache, in-memory
channel layer, files under ``var/``). ``DATABASE_URL`` and ``REDIS_URL`` switch to
PostgreSQL, Redis and the Redis channel layer. Every variable is listed in
``.env.example`` and docs/configuration.md.
"""

import math
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable; anything but a known spelling is an error, never False."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false).")


def env_positive_int(name: str, default: int) -> int:
    try:
        value = env.int(name, default=default)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number.") from exc
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be greater than zero.")
    return value


def env_positive_float(name: str, default: float) -> float:
    try:
        value = env.float(name, default=default)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number of seconds.") from exc
    if not (math.isfinite(value) and value > 0):
        raise ImproperlyConfigured(f"{name} must be a finite number greater than zero.")
    return value


DEBUG = env_bool("DEBUG", default=False)

# Everything the embedded default writes (database, secret key, media, static) lives here.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
USING_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"
if USING_POSTGRES:
    # psycopg 3's pool inside each process; persistent connections must then be off.
    _db["CONN_MAX_AGE"] = 0
    # A PostgreSQL restart kills the pool's idle connections unnoticed: this backend
    # checks each as it leaves the pool (its socket polled, or an empty query after
    # a quiet spell) and replaces a dead one rather than failing a request. Django's
    # own check is that query every time (psycopg_pool's `check`): off.
    _db["ENGINE"] = "taskmanager.postgresql"
    _db["CONN_HEALTH_CHECKS"] = False
    _db.setdefault("OPTIONS", {})
    if env_bool("DATABASE_POOL", default=True):
        _db["OPTIONS"]["pool"] = {
            "min_size": env_positive_int("DATABASE_POOL_MIN_SIZE", 1),
            "max_size": env_positive_int("DATABASE_POOL_MAX_SIZE", 10),
            "timeout": env_positive_int("DATABASE_POOL_TIMEOUT", 10),
        }
    _db["OPTIONS"].setdefault("connect_timeout", 5)
    if not _db["OPTIONS"].get("server_side_binding"):
        # Django's cursors bind on the client and prepare nothing. The statements the
        # code runs on a cursor that binds on the server (taskmanager.prepared) are
        # prepared at once and planned once per connection, for every reader: their
        # shape leaves the planner nothing to choose by the values (docs/decisions/
        # read-path.md).
        _db["OPTIONS"].setdefault("prepare_threshold", 0)
        _options = _db["OPTIONS"].get("options", "")
        if "plan_cache_mode" not in _options:  # an operator's own choice stays
            _db["OPTIONS"]["options"] = f"{_options} -c plan_cache_mode=force_generic_plan".strip()
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the threads of `runserver` write without
    # "database is locked" errors; the busy timeout waits for a writer instead.
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if USING_POSTGRES and not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off and a PostgreSQL database this is a "
            "production deployment: set SECRET_KEY to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    # Embedded default: generate one key once and keep it, so sessions and tokens
    # survive restarts of `make run`.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(50))
        except FileExistsError:  # another process won the race; read its key
            pass
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = _secret_key()


def _jwt_signing_key() -> str:
    # Set to nothing (an env file's `JWT_SIGNING_KEY=`), it would sign tokens with an
    # empty key, which anyone can forge: empty means unset.
    key = env.str("JWT_SIGNING_KEY", default="")
    if not key:
        return SECRET_KEY
    if len(key) < 32:
        raise ImproperlyConfigured(
            "JWT_SIGNING_KEY is shorter than 32 characters: an HS256 key that short can be"
            " guessed offline from any token. Unset it to use SECRET_KEY, or set a long"
            " random value."
        )
    return key


ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# In the API's error shape on API paths; Django's page on the admin and login forms.
CSRF_FAILURE_VIEW = "taskmanager.exceptions.csrf_failure"

INSTALLED_APPS = [
    # realtime before daphne: its `runserver` is daphne's, with request bodies bounded.
    "realtime",
    # daphne next: its `runserver` serves HTTP and WebSocket from one process.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "activity",
    "projects",
    "tasks",
    "comments",
    "notifications",
    "files",
    "webhooks",
    "sync",
    "exports",
    "monitoring",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    # Outermost: it acts once every other middleware is done with the response.
    "taskmanager.middleware.ReleaseResponseCycles",
    # Next: the request id is on every record logged below, and the access line
    # and metrics cover the responses other middleware make too.
    "monitoring.logs.RequestLogMiddleware",
    "monitoring.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # ETag (a hash of the body) on every successful GET without one, e.g. task lists,
    # and 304 for a matching If-None-Match; task responses set their own ETag from id
    # and version.
    "taskmanager.conditional.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's messages, each request's storage made only when used (the admin's).
    "taskmanager.middleware.MessagesWhenUsed",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "taskmanager.urls"
WSGI_APPLICATION = "taskmanager.wsgi.application"
ASGI_APPLICATION = "taskmanager.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.UsernameOrEmailBackend"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2 hashes new passwords; older bcrypt and PBKDF2 hashes still verify and are
# upgraded on the next successful login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Uploaded files: the local disk under MEDIA_ROOT (one host), or an S3-compatible
# bucket through django-storages once AWS_STORAGE_BUCKET_NAME is set (many hosts).
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _file_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # Empty: boto3 finds credentials itself (instance role, ~/.aws).
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            # A download reads the object through a spooled file: past 1 MiB it
            # goes to disk, so memory stays bounded whatever the upload limit.
            "max_memory_size": 1024 * 1024,
        },
    }
else:
    _file_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES: dict[str, dict[str, Any]] = {
    "default": _file_storage,
    # Hashed, compressed names served by WhiteNoise with far-future cache headers;
    # `collectstatic` (run by `make run` and the Docker build) writes the manifest.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

UPLOAD_MAX_BYTES = env_positive_int("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
# The largest request body daphne reads (realtime.server): an upload plus its multipart
# envelope, as nginx's client_max_body_size (deploy/nginx.conf). Larger ones are a 413
# before they are read.
HTTP_MAX_BODY_BYTES = UPLOAD_MAX_BYTES + 1024 * 1024

# One Redis round trip for what an authenticated request reads first
# (taskmanager.readahead); a Django setting, not an environment one: off only to
# measure it (bench/settings_no_read_ahead.py).
READ_AHEAD = True

# Cache and channel layer: Redis when configured, otherwise in-process defaults.
REDIS_URL = env.str("REDIS_URL", default="")
# Messages waiting for a server process's channel (its fan-out, realtime.fanout)
# before the layer drops more (counted in taskmanager_channel_layer_dropped_total).
# The library default of 100 is one burst of bulk edits; 1000 covers a process busy
# for a while. What waits past `expiry` (a minute) is dropped and shows as a gap.
CHANNEL_LAYER_CAPACITY = env_positive_int("CHANNEL_LAYER_CAPACITY", 1000)
# Every Redis call on the request path is bounded by these (a local Redis answers in
# well under a millisecond); after a timeout the process skips Redis, as if down, for
# REDIS_BREAKER_SECONDS, then tries again (taskmanager.redis_breaker).
REDIS_CONNECT_TIMEOUT_SECONDS = env_positive_float("REDIS_CONNECT_TIMEOUT_SECONDS", 0.25)
REDIS_READ_TIMEOUT_SECONDS = env_positive_float("REDIS_READ_TIMEOUT_SECONDS", 0.5)
REDIS_BREAKER_SECONDS = env_positive_float("REDIS_BREAKER_SECONDS", 5)
# channels-redis' receive blocks in BZPOPMIN this long (its `brpop_timeout`) before
# Redis answers, so the layer's reads must be allowed that much longer.
_LAYER_BLOCKING_POP_SECONDS = 5
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tm"),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": REDIS_READ_TIMEOUT_SECONDS,
                "CONNECTION_POOL_CLASS": "taskmanager.redis_breaker.BreakerConnectionPool",
                # Redis down must not take the API down: reads fall back to the
                # database; django-redis logs every fault it swallows.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.channel_layers.CountingRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                        "socket_timeout": _LAYER_BLOCKING_POP_SECONDS + REDIS_READ_TIMEOUT_SECONDS,
                    }
                ],
                # Each operation but the receive's blocking pop, whole (several round
                # trips at most); past it, a timeout for the breaker.
                "operation_timeout": REDIS_CONNECT_TIMEOUT_SECONDS + REDIS_READ_TIMEOUT_SECONDS,
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="tm-asgi"),
                # channels-redis drops messages silently past `capacity` per channel;
                # a socket process that falls behind for a while must not lose events.
                "capacity": CHANNEL_LAYER_CAPACITY,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "taskmanager",
        }
    }
    # One process only: `make run` serves HTTP and WebSocket from the same loop.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.channel_layers.CountingInMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY, "expiry": 60},
        }
    }

# /monitoring/metrics/ asks for `Authorization: Bearer <METRICS_TOKEN>` when it is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# People's session login (accounts/pages.py): the live page, the browsable API.
LOGIN_URL = "people:login"

# Login sessions (browsable API, admin, live page) read through the cache: an open
# WebSocket checks its session every few seconds without a query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# WebSocket: time allowed for the first `auth` message when the handshake carried
# no credentials, and how often an open socket's session and token are checked.
WEBSOCKET_AUTH_TIMEOUT_SECONDS = env_positive_int("WEBSOCKET_AUTH_TIMEOUT_SECONDS", 5)
WEBSOCKET_RECHECK_SECONDS = env_positive_int("WEBSOCKET_RECHECK_SECONDS", 5)
# Where browsers open /ws/tasks/ when it is not this host (`make serve`: daphne on
# its own port, no proxy in front). Empty: the page's own host, as behind nginx.
WEBSOCKET_PUBLIC_URL = env.str("WEBSOCKET_PUBLIC_URL", default="")
if WEBSOCKET_PUBLIC_URL and not WEBSOCKET_PUBLIC_URL.startswith(("ws://", "wss://")):
    raise ImproperlyConfigured("WEBSOCKET_PUBLIC_URL must start with ws:// or wss://.")

ACCESS_TOKEN_MINUTES = env_positive_int("ACCESS_TOKEN_MINUTES", 15)
REFRESH_TOKEN_DAYS = env_positive_int("REFRESH_TOKEN_DAYS", 7)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=ACCESS_TOKEN_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=REFRESH_TOKEN_DAYS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": _jwt_signing_key(),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
    # SimpleJWT's access token with every claim's type and range checked (a 401, not a 500).
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.SessionAccessToken",),
}

# Scoped rates, read per request by taskmanager.throttles (shared through the cache).
THROTTLE_RATES = {
    "read": env.str("THROTTLE_READ_RATE", default="60/min"),
    "write": env.str("THROTTLE_WRITE_RATE", default="10/min"),
    # Tasks changed or deleted through /tasks/bulk/ and /tasks/bulk-delete/.
    "bulk_tasks": env.str("THROTTLE_BULK_TASKS_RATE", default="1000/min"),
    # Login and token attempts per username + client IP, and per client IP.
    "login": env.str("THROTTLE_LOGIN_RATE", default="5/min"),
    "login_ip": env.str("THROTTLE_LOGIN_IP_RATE", default="30/min"),
    # Token refreshes per client IP (accounts.throttles.RefreshThrottle).
    "refresh": env.str("THROTTLE_REFRESH_RATE", default="60/min"),
}
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# Background tasks (webhook deliveries): rows of the database, run by
# `manage.py db_worker` (docker-compose's `worker`; `make run` starts one itself).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# How long events are kept: the feed, sync cursors and webhook redelivery reach this far.
EVENT_RETENTION_DAYS = env_positive_int("EVENT_RETENTION_DAYS", 30)
# Webhook URLs: https only and public addresses only, unless lifted for local testing.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_TIMEOUT_SECONDS = env_positive_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
# After an attempt's timeout, this long without its answer recorded means its worker
# died: the delivery is sent again.
WEBHOOK_LEASE_MARGIN_SECONDS = env_positive_float("WEBHOOK_LEASE_MARGIN_SECONDS", 30.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: its `WWW-Authenticate: Bearer` makes unauthenticated calls 401.
        "accounts.authentication.SessionJWTAuthentication",
        # `Bearer tm_pat_...` (which the JWT class leaves alone), checked against the
        # token's scopes there, whatever the view's permission classes
        # (accounts.scopes).
        "accounts.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "taskmanager.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": [
        "taskmanager.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON bodies only; the two forms are the views' own: the OAuth2 password grant
    # (accounts.views.TokenView) and file uploads (files.views). The browsable API
    # sends JSON through its raw data form.
    "DEFAULT_PARSER_CLASSES": ["taskmanager.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "taskmanager.negotiation.RememberedNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Every view: `read`/`write` per user (per client IP when anonymous); the public
    # auth endpoints set their own.
    "DEFAULT_THROTTLE_CLASSES": ["taskmanager.throttles.ReadWriteThrottle"],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    # Proxies in front of the app whose X-Forwarded-For is trusted (nginx: 1).
    "NUM_PROXIES": NUM_PROXIES,
    "EXCEPTION_HANDLER": "taskmanager.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "taskmanager.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Fonts every system has under one of these names: the documentation pages download none.
_SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
_MONOSPACE_FONTS = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace'
SPECTACULAR_SETTINGS = {
    "TITLE": "Taskmanager API",
    "DESCRIPTION": "Tasks, accounts, files and real-time task events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets share the field name `role`: the site's and a project's.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.roles.Role",
        "ProjectRoleEnum": "projects.models.ProjectRole",
        "NotificationKindEnum": "notifications.models.NotificationKind",
        "RelationKindEnum": "tasks.models.Relation.Kind",
        # The task's status keeps the name it had before deliveries had one too.
        "StatusEnum": "tasks.models.Task.Status",
        "DeliveryStatusEnum": "webhooks.models.Delivery.Status",
        "SyncChangeTypeEnum": "sync.serializers.ChangeType",
        "SyncOpEnum": "sync.serializers.ChangeOp",
    },
    # Swagger UI and ReDoc load nothing from other hosts: their assets come from this
    # app (drf-spectacular-sidecar), no online validator badge, ReDoc in the system's
    # fonts rather than Google's (templates/drf_spectacular/redoc.html).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": _SYSTEM_FONTS,
                "headings": {"fontFamily": _SYSTEM_FONTS},
                "code": {"fontFamily": _MONOSPACE_FONTS},
            }
        }
    },
}

# Security: on by default. TLS is terminated by the reverse proxy, which sets
# X-Forwarded-Proto; redirecting to HTTPS is switched on where a proxy is in front.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# Health checks and Prometheus call the containers directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^monitoring/"]
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Bodies beyond this are refused before they are read into memory; uploads have
# their own limit (UPLOAD_MAX_BYTES) on top of this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_positive_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# The first handler stops a multipart upload past UPLOAD_MAX_BYTES while it streams
# in (413), so an oversized file is never held whole, in memory or on disk.
FILE_UPLOAD_HANDLERS = [
    "files.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# JSON lines for log pipelines; `plain` reads better in a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "monitoring.log_format.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "filters": {
        "request_id": {"()": "monitoring.logs.RequestIdFilter"},
        "channel_layer_drops": {"()": "taskmanager.metrics.channels_redis_drop_counter"},
        "redis_skipped": {"()": "taskmanager.redis_breaker.SkippedCallsFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            # While Redis is skipped, the breaker's one record stands for the
            # fallbacks' several per request.
            "filters": ["request_id", "redis_skipped"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # A Host outside ALLOWED_HOSTS is a 400 with its access line; Django also logs
        # each one as an ERROR with a traceback, which lets any scanner flood the log.
        "django.security.DisallowedHost": {"level": "CRITICAL"},
        "django.server": {"level": LOG_LEVEL},
        # Its "channels over capacity" records feed the dropped-messages metric.
        "channels_redis.core": {"level": "INFO", "filters": ["channel_layer_drops"]},
    },
}
