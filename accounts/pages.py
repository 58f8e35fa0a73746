"""People's pages, in HTML with a session cookie: log in, log out, register. The
browsable API, the live page and the landing page use them; the admin keeps its own.

A `next` (query string or form field) is followed only within this site; after a
login or a registration without one, the live page.
"""

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.views import LoginView as DjangoLoginView
from django.contrib.auth.views import LogoutView as DjangoLogoutView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, resolve_url
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_safe

from accounts import services
from accounts.forms import LoginForm, RegisterForm
from accounts.throttles import register_attempt_wait
from accounts.views import password_form_view
from taskmanager.exceptions import DomainValidationError

NEXT = "next"
# Where a login or a registration without `next` leads (a URL name).
AFTER_LOGIN = "live"


def safe_next(request: HttpRequest) -> str:
    """The request's `next` (form field, else query string) when it stays on this
    site, else ''."""
    target = request.POST.get(NEXT) or request.GET.get(NEXT) or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


def _with_next(url: str, target: str) -> str:
    return f"{url}?{urlencode({NEXT: target})}" if target else url


class LoginPage(DjangoLoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    next_page = AFTER_LOGIN


# A throttled attempt answers 429 with Retry-After, as the API's login.
login_page = password_form_view(LoginPage.as_view())


class LogoutPage(DjangoLogoutView):
    """POST ends the browser's session and lands on "You are logged out", whose
    "Log in again" carries the `next` along. GET asks first: a link or a prefetch
    must not log anyone out."""

    http_method_names = ["get", "post", "options"]
    template_name = "accounts/logout.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(self.get_success_url())
        return TemplateResponse(request, self.template_name, {NEXT: safe_next(request)})

    def get_success_url(self) -> str:
        return _with_next(reverse("people:logged-out"), safe_next(self.request))


logout_page = LogoutPage.as_view()


@require_safe
def logged_out_page(request: HttpRequest) -> HttpResponseBase:
    if request.user.is_authenticated:  # opened by hand: nothing was logged out
        return redirect(_with_next(reverse("people:logout"), safe_next(request)))
    return TemplateResponse(request, "accounts/logged_out.html", {NEXT: safe_next(request)})


@sensitive_post_parameters("password", "password_again")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def _register(request: HttpRequest) -> HttpResponseBase:
    """The registration form: the same checks and service as `POST
    /api/v1/auth/register/`, counted in its window per client address. The new
    member is logged in and sent on to `next` (the live page without one)."""
    target = safe_next(request)
    if request.method == "POST":
        form = RegisterForm(request.POST, throttled_for=register_attempt_wait(request))
        if form.is_valid():
            try:
                user = services.user_register(**form.registration)
            except DomainValidationError as exc:  # a name taken meanwhile
                form.add_field_errors(exc.fields)
            else:
                login(request, user)
                return HttpResponseRedirect(target or resolve_url(AFTER_LOGIN))
    else:
        form = RegisterForm()
    return TemplateResponse(request, "accounts/register.html", {"form": form, NEXT: target})


# Over the rate, 429 with Retry-After, as the API's registration.
register_page = password_form_view(_register)
