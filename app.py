"""Livedrop: the Chalice app. Routes live in chalicelib/api; this file only assembles them."""
from chalice import Chalice, Rate

from chalicelib.api import brands, meta, orders, products, sessions
from chalicelib.api.routing import chalice_errors_as_problems
from chalicelib.observability import logger, observe_http

app = Chalice(app_name="livedrop")
app.register_middleware(observe_http, "http")
app.register_middleware(chalice_errors_as_problems, "http")
for module in (brands, products, sessions, orders, meta):
    app.register_blueprint(module.bp)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def release_expired_reservations(event):
    """Give the units of reservations past their time back to their drops."""
    from chalicelib.bootstrap import services

    released = services().checkout.release_expired(limit=500)
    logger.info("released expired reservations", extra={"released": released})
    return {"released": released}
