"""How the API's authentication appears in the OpenAPI document.

Two ways in, either suffices: a pasted Bearer token, or Swagger UI's Authorize
dialog using the OAuth2 password flow against /api/v1/auth/token/.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
