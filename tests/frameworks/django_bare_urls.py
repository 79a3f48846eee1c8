"""A URLconf without tether's endpoints, for the system check that notices."""

urlpatterns: list = []
