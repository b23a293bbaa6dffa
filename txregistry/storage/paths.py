"""
The storage layout: where every piece of registry data lives, as pure
functions of names, tags, digests and upload ids.

It is distribution's layout, so that either registry serves the other's
data directory::

    /docker/registry/v2/blobs/<alg>/<hex[0:2]>/<hex>/data
    /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_uploads/<id>/{data,startedat,hashstates/<alg>/<offset>}

and one txregistry extension, which distribution never reads (it lists only
C{revisions} and C{tags} below C{_manifests}): the index of the OCI
referrers API, one link per manifest whose C{subject} is C{<subject>}::

    /docker/registry/v2/repositories/<name>/_manifests/referrers/<alg>/<subject hex>/<alg>/<hex>/link

and another, which distribution skips (as every directory of a repository
whose name starts with C{_} but C{_manifests}, C{_layers} and
C{_uploads}): when each tag was last pulled, as the modification time of an
empty file (L{txregistry.storage.pulls})::

    /docker/registry/v2/repositories/<name>/_txregistry/pulled/<tag>

Callers validate names, tags and ids first; these functions only join.
"""

from txregistry.digest import Digest

ROOT = "/docker/registry/v2"
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"


def blobDirectory(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def blobData(digest: Digest) -> str:
    return f"{blobDirectory(digest)}/data"


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layerLink(name: str, digest: Digest) -> str:
    return f"{repository(name)}/_layers/{digest.algorithm}/{digest.hex}/link"


def manifests(name: str) -> str:
    return f"{repository(name)}/_manifests"


def manifestRevisionLink(name: str, digest: Digest) -> str:
    return f"{manifests(name)}/revisions/{digest.algorithm}/{digest.hex}/link"


def manifestRevision(name: str, digest: Digest) -> str:
    return f"{manifests(name)}/revisions/{digest.algorithm}/{digest.hex}"


def referrers(name: str, subject: Digest) -> str:
    return f"{manifests(name)}/referrers/{subject.algorithm}/{subject.hex}"


def referrer(name: str, subject: Digest, digest: Digest) -> str:
    return f"{referrers(name, subject)}/{digest.algorithm}/{digest.hex}"


def referrerLink(name: str, subject: Digest, digest: Digest) -> str:
    return f"{referrer(name, subject, digest)}/link"


def tags(name: str) -> str:
    return f"{manifests(name)}/tags"


def tag(name: str, tag: str) -> str:
    return f"{tags(name)}/{tag}"


def tagCurrentLink(name: str, tagName: str) -> str:
    return f"{tag(name, tagName)}/current/link"


def tagIndexLink(name: str, tagName: str, digest: Digest) -> str:
    return f"{tag(name, tagName)}/index/{digest.algorithm}/{digest.hex}/link"


def pulledRecords(name: str) -> str:
    return f"{repository(name)}/_txregistry/pulled"


def pulledRecord(name: str, tag: str) -> str:
    return f"{pulledRecords(name)}/{tag}"


def upload(name: str, uploadID: str) -> str:
    return f"{repository(name)}/_uploads/{uploadID}"


def uploadData(name: str, uploadID: str) -> str:
    return f"{upload(name, uploadID)}/data"


def uploadStartedAt(name: str, uploadID: str) -> str:
    return f"{upload(name, uploadID)}/startedat"
