"""No HTTP views: the benchmark only opens WebSockets (the tutorial's lobby pages are left out)."""

urlpatterns: list = []
