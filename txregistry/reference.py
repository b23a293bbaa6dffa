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


def compileNameGlob(glob: str) -> re.Pattern[str]:
    """
    Compile a glob of repository names: C{*} matches any characters but
    C{/}, C{**} any characters including C{/} (C{**/} also matches no
    directory at all), C{?} one character but C{/}, C{[...]} (C{[!...]}
    negated) one character of a set; every other character stands for
    itself.  So C{team/*} matches C{team/app} and C{team/**} also matches
    C{team/app/web}; neither matches C{team}.

    @param glob: the glob.
    @return: a pattern to C{fullmatch} names against.
    @raise ValueError: if C{glob} is empty or has a C{[} never closed.
    """
    if not glob:
        raise ValueError("must not be empty")
    parts: list[str] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif char == "*":
            parts.append("[^/]*")
            index += 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[":
            end = glob.find("]", index + 2 if glob.startswith("[!", index) else index + 1)
            if end < 0 or glob[index + 1:end] in ("", "!"):
                raise ValueError(f"has a '[' at {index} that is never closed")
            members = glob[index + 1:end]
            negated = members.startswith("!")
            members = re.escape(members[1:] if negated else members).replace(r"\-", "-")
            parts.append(f"[^/{members}]" if negated else f"[{members}]")
            index = end + 1
        else:
            parts.append(re.escape(char))
            index += 1
    try:
        return re.compile("".join(parts))
    except re.error as e:  # a range such as [z-a]
        raise ValueError(f"is not a valid glob: {e}") from None
