from django.http import HttpRequest, JsonResponse

from taskmanager.exceptions import error_body


def health(request: HttpRequest) -> JsonResponse:
    """Liveness: answers while the process runs; touches no dependency."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    return JsonResponse({"status": "ok"})
