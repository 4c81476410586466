"""Livedrop: the Chalice app. Routes live in chalicelib/api; this file only assembles them."""
from chalice import Chalice

from chalicelib.api import brands, meta, products, sessions
from chalicelib.observability import observe_http

app = Chalice(app_name="livedrop")
app.register_middleware(observe_http, "http")
for module in (brands, products, sessions, meta):
    app.register_blueprint(module.bp)
