from django.urls import path

from sandbox import api, views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("oauth/v2/authorize", views.authorize, name="authorize"),
    path("api/<str:method>", api.call_method, name="api"),
    path("workspaces/<str:team_id>/mention", views.mention, name="mention"),
    path("workspaces/<str:team_id>/slash-command", views.slash_command, name="slash_command"),
    path("workspaces/<str:team_id>/uninstall", views.uninstall, name="uninstall"),
    path("hooks/<str:team_id>/<str:channel_id>", views.post_to_channel, name="incoming_webhook"),
    path("hooks/<str:team_id>/<str:channel_id>/<str:user_id>", views.post_to_channel, name="response_url"),
    path("hooks/<str:team_id>/<str:channel_id>/<str:user_id>/<str:message_ts>", views.post_to_channel, name="click_response_url"),
]
