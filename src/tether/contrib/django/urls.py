"""``path("_tether/", include("tether.contrib.django.urls"))``: mount at ``TETHER["prefix"]``."""

from django.urls import path

from .views import endpoint

app_name = "tether"
urlpatterns = [path("<str:name>", endpoint, name="endpoint")]
