"""Views and URLs in one file: any name signs in through django.contrib.auth."""

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.shortcuts import redirect, render
from django.urls import include, path
from django.views.decorators.http import require_POST


def home(request):
    return render(request, "home.html")


@require_POST
def sign_in(request):
    name = request.POST.get("username", "").strip()
    if name:
        user, _ = User.objects.get_or_create(username=name)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # tether: new token
    return redirect("/")


@require_POST
def sign_out(request):
    logout(request)  # tether: the session ends in every tab
    return redirect("/")


urlpatterns = [
    path("", home),
    path("login", sign_in),
    path("logout", sign_out),
    path("_tether/", include("tether.contrib.django.urls")),  # tether: the endpoints
]
