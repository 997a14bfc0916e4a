from django.urls import path

from bench import views
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    *app_urlpatterns,
    path("bench/bare", views.bare),
    path("bench/fixed-token/events", views.fixed_token_events),
    path("bench/fixed-token-bolt/events", views.fixed_token_bolt_events),
]
