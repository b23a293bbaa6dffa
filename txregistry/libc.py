"""
The C library's functions that Python does not wrap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any


def libcFunction(name: str, *argtypes: Any) -> Any:
    """
    @return: the C library's function C{name}, taking C{argtypes} and
        keeping C{errno} for L{ctypes.get_errno}; or L{None} where the
        library has none (C{sync_file_range} is Linux's, C{mallopt} and
        C{malloc_trim} are glibc's).
    """
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    return function
