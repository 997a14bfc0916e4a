from django.urls import path

from sandbox import api, views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("oauth/v2/authorize", views.authorize, name="authorize"),
    path("api/<str:method>", api.call_method, name="api"),
    path("w/<str:team_id>/", views.workspace_home, name="workspace"),
    path("w/<str:team_id>/click", views.click, name="click"),
    path("w/<str:team_id>/uninstall", views.uninstall, name="uninstall"),
    path("w/<str:team_id>/<str:channel_id>/", views.channel, name="channel"),
    path("w/<str:team_id>/<str:channel_id>/live", views.live, name="live"),
    path("w/<str:team_id>/<str:channel_id>/post", views.post, name="post"),
    path("hooks/<str:team_id>/<str:channel_id>", views.post_to_channel, name="incoming_webhook"),
    path("hooks/<str:team_id>/<str:channel_id>/<str:user_id>", views.post_to_channel, name="response_url"),
    path("hooks/<str:team_id>/<str:channel_id>/<str:user_id>/<str:message_ts>", views.post_to_channel, name="click_response_url"),
]
