"""Response headers Django 5.2 does not set itself."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """`Content-Security-Policy` on every response (settings.CONTENT_SECURITY_POLICY): scripts,
    styles and forms from this origin only, never framed. The pages have no inline script or style,
    so nothing needs 'unsafe-inline'. A view that sets its own policy keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
