"""Puts the tornado -> tornado_c alias into every interpreter the conformance
run starts, including the subprocesses Tornado's own tests spawn."""

import os

if os.environ.get("TORNADO_C_ALIAS") == "1":
    from tornado_c._alias import install_alias

    install_alias(os.environ.get("TORNADO_C_REFERENCE_DIR") or None)
    if os.environ.get("TORNADO_C_CONFORMANCE_LOOP", "native") == "native":
        import tornado_c

        tornado_c.install()
