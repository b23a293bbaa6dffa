"""
The grammar of repository names and tags.
"""

import re

# distribution's reference grammar: path components of lowercase
# alphanumerics joined by '.', '_', '__' or dashes, separated by '/'.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
NAME_MAX_LENGTH = 255


def isValidName(name: str) -> bool:
    """
    @return: whether C{name} is a valid repository name.
    """
    return len(name) <= NAME_MAX_LENGTH and _NAME.fullmatch(name) is not None


def isValidTag(tag: str) -> bool:
    """
    @return: whether C{tag} is a valid tag.
    """
    return _TAG.fullmatch(tag) is not None
