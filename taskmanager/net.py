from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting `X-Forwarded-For` only from NUM_PROXIES proxies.

    With no proxy configured the header is ignored: anyone can send it, and a
    spoofed one would dodge per-IP throttles.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded:
        return remote
    hops = [hop.strip() for hop in str(forwarded).split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote
