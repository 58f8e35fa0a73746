"""How the API's authentication appears in the OpenAPI document.

Three ways in, any one suffices: a pasted Bearer access token, Swagger UI's Authorize
dialog using the OAuth2 password flow against /api/v1/auth/token/, or a personal API
token (also a Bearer token), on the operations its scopes can reach.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts import scopes

PAT_SCHEME_DESCRIPTION = (
    "A personal API token (`tm_pat_...`, from `POST /api/v1/auth/tokens/`), sent as "
    "`Authorization: Bearer <token>`. It reaches only what its scopes allow, else 403 "
    "`insufficient_scope`: "
    "`tasks:read`/`tasks:write` for tasks, comments and notifications (reads: GET, HEAD, "
    "OPTIONS; writes: the rest), `projects:read`/`projects:write` for projects, members "
    "and labels, `files:read`/`files:write` for files, `webhooks:manage` for webhooks, "
    "`tasks:read` for exports, `tasks:read` and `projects:read` for /sync/ and the "
    "WebSocket. Any token reads `GET /api/v1/users/me/`; none manages tokens, sessions, "
    "the password or the email. Operations it cannot reach do not list it."
)


class SessionJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionJWTAuthentication"
    name = ["jwtAuth", "oauth2"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"jwtAuth": []}, {"oauth2": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            {
                "type": "oauth2",
                "flows": {"password": {"tokenUrl": "/api/v1/auth/token/", "scopes": {}}},
            },
        ]


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        # Listed only where some token may be used (an OpenAPI 3.0 bearer scheme names
        # no scopes: the description says which).
        if scopes.needed_scopes(auto_schema.view, auto_schema.method) is None:
            return []
        return [{"personalToken": []}]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tm_pat_ personal API token",
            "description": PAT_SCHEME_DESCRIPTION,
        }
