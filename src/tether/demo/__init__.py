"""The demo site: the same pages through each framework adapter (``tether demo``).

Its packages come with the ``demo`` extra (plus ``flask`` or ``django`` for those
frameworks). Without them, importing the demo raises a :class:`~tether.ConfigurationError`
naming the install command, so ``tether demo`` prints one line instead of a traceback.
"""

from __future__ import annotations

from ..exceptions import ConfigurationError


def missing_extra(error: ImportError, extras: str) -> ConfigurationError:
    """The one-line answer to a demo dependency that is not installed."""
    package = (error.name or "missing").partition(".")[0]
    return ConfigurationError(f"the demo needs the {package} module: pip install 'tether[{extras}]'")


try:  # jinja2 renders every page; Starlette, uvicorn and python-multipart serve the default one
    import jinja2  # noqa: F401
    import python_multipart  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:
    # Every framework's demo needs these; the Flask and Django ones need their framework too.
    error = missing_extra(exc, "demo")
    raise ConfigurationError(f"{error} ('tether[demo,flask]' or 'tether[demo,django]' for those demos)") from None
