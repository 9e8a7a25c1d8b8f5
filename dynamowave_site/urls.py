"""URL routes of the site: chat pages, accounts, the token API and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import direct, lobby, members, search, sessions, sidebar, uploads, views
from chat.forms import ThrottledAuthenticationForm

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/", views.rooms, name="rooms"),
    path("rooms/<str:room>/", views.room, name="room"),
    path("rooms/<str:room>/members/", members.room_members, name="room_members"),
    path("dm/", direct.direct, name="direct"),
    path("api/token/", views.token_create, name="api_token"),
    path("api/unread/", sidebar.unread_counts, name="api_unread"),
    path("api/online/", lobby.rooms_online, name="api_rooms_online"),
    path("api/search/", search.search_api, name="api_search"),
    path("api/rooms/<str:room>/", sidebar.room_api, name="api_room"),
    path("api/rooms/<str:room>/leave/", sidebar.room_leave_api, name="api_room_leave"),
    path("api/rooms/<str:room>/mute/", sidebar.room_mute_api, name="api_room_mute"),
    path("api/uploads/", uploads.upload_create_api, name="api_uploads"),
    path("api/uploads/<str:upload_id>/", uploads.upload_api, name="api_upload"),
    path("api/files/<str:upload_id>/", uploads.file_api, name="api_file"),
    path("accounts/signup/", views.signup, name="signup"),
    # Before django.contrib.auth.urls, whose `login` this replaces with a throttled form.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/everywhere/", sessions.logout_everywhere, name="logout_everywhere"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
