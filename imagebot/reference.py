"""Container image references, parsed and normalised exactly as distribution/reference does.

Docker, containerd, Kubernetes, Flux and Argo CD all use github.com/distribution/reference, so a
reference means the same thing to imagebot as to the cluster that pulls it:

- ``name[:tag][@digest]``; the first path component is a registry only if it contains ``.`` or
  ``:``, is ``localhost``, or has upper-case letters; otherwise the image is on Docker Hub;
- ``index.docker.io`` and ``docker.io`` are both ``docker.io``; single names get ``library/``;
- the repository path is lower case, at most 255 characters (without the registry); a tag is at most
  128 characters of ``[A-Za-z0-9_.-]`` not starting with ``.`` or ``-``; a 64-hex string alone is
  an image id, not a name; a digest is validated like go-digest (only ``sha256`` is supported).

:func:`with_tag` rewrites only the tag and digest of a reference *as the user wrote it*, so a
manifest that says ``nginx:1.2`` becomes ``nginx:1.3``, never ``docker.io/library/nginx:1.3``.
"""

from __future__ import annotations

import functools

import re
from dataclasses import dataclass

from imagebot.errors import ReferenceError_

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255
#: Longer input cannot be a valid reference (name 255 + tag 128 + a sha512 digest); refusing it
#: early keeps the regular expressions linear on hostile input.
_TEXT_LENGTH_MAX = 1024

# The grammar of distribution/reference (regexp.go), written for Python's `re`.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

#: Whole-string patterns (use ``fullmatch``), named after their Go counterparts.
DOMAIN_AND_PORT_RE = re.compile(_DOMAIN_AND_PORT, re.ASCII)
TAG_RE = re.compile(_TAG, re.ASCII)
DIGEST_RE = re.compile(_DIGEST, re.ASCII)
#: Groups: domain, path.
NAME_RE = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})", re.ASCII)
#: Groups: name, tag, digest.
REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)

# go-digest: only sha256 is linked into the programs that use distribution/reference.
_DIGEST_HEX_LENGTH = {"sha256": 64}
_DIGEST_ALGORITHM_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*", re.ASCII)
_DIGEST_FULL_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)

# distribution/reference's error texts, kept verbatim so users can search for them.
ERR_INVALID_FORMAT = "invalid reference format"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_UPPERCASE = "repository name must be lowercase"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_DIGEST_FORMAT = "invalid checksum digest format"
ERR_DIGEST_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"


@dataclass(frozen=True)
class Reference:
    """A parsed image reference.

    `registry` is "" only for references parsed with ``normalize=False`` that name no registry.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository with its registry: the key for registry lookups ("docker.io/library/nginx")."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def familiar_name(self) -> str:
        """The short form users type: "nginx", "team/app", "ghcr.io/org/app"."""
        if self.registry != DEFAULT_REGISTRY:
            return self.name
        rest = self.repository
        if rest.startswith(OFFICIAL_REPO_PREFIX) and "/" not in rest[len(OFFICIAL_REPO_PREFIX) :]:
            return rest[len(OFFICIAL_REPO_PREFIX) :]
        return rest

    def familiar(self) -> str:
        """The short form with tag and digest ("nginx:1.25")."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def _fail(text: str, problem: str) -> ReferenceError_:
    return ReferenceError_(f"invalid image reference {text!r}: {problem}")


def _check_length(text: str) -> None:
    if len(text) > _TEXT_LENGTH_MAX:
        raise _fail(text[:64] + "...", f"{ERR_INVALID_FORMAT}: longer than {_TEXT_LENGTH_MAX} characters")


def _validate_digest(text: str, digest: str) -> None:
    """go-digest's Digest.Validate, with its error texts."""
    algorithm, _, encoded = digest.partition(":")
    expected = _DIGEST_HEX_LENGTH.get(algorithm)
    if expected is None:
        if not _DIGEST_FULL_RE.fullmatch(digest):
            raise _fail(text, f"{ERR_DIGEST_FORMAT} in {digest!r}")
        raise _fail(text, f"{ERR_DIGEST_UNSUPPORTED} {algorithm!r} in {digest!r} (only sha256 is supported)")
    if len(encoded) != expected:
        raise _fail(text, f"{ERR_DIGEST_LENGTH} in {digest!r}: {len(encoded)} hex characters, {algorithm} needs {expected}")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise _fail(text, f"{ERR_DIGEST_FORMAT} in {digest!r}: the hex must be lower case")


def _bad_part(text: str) -> str:
    """Point at what breaks the grammar, for the error message."""
    name, at, digest = text.partition("@")
    if at and not DIGEST_RE.fullmatch(digest):
        return f"bad digest {digest!r}"
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        if not TAG_RE.fullmatch(tag):
            return f"bad tag {tag!r} (allowed: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
        name = head
    for part in name.split("/"):
        if not part:
            return "empty path component"
        if not re.fullmatch(_PATH_COMPONENT, part, re.ASCII) and not DOMAIN_AND_PORT_RE.fullmatch(part):
            return f"bad name component {part!r}"
    return f"bad name {name!r}"


def _parse_as_written(text: str, shown: str) -> Reference:
    """distribution/reference ``Parse``: no normalisation; registry "" when none is written.

    `shown` is the text the user wrote, for error messages.
    """
    if text == "":
        raise _fail(shown, ERR_NAME_EMPTY)
    m = REFERENCE_RE.fullmatch(text)
    if m is None:
        if REFERENCE_RE.fullmatch(text.lower()) is not None:
            raise _fail(shown, ERR_NAME_UPPERCASE)
        raise _fail(shown, f"{ERR_INVALID_FORMAT}: {_bad_part(text)}")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    nm = NAME_RE.fullmatch(name)
    assert nm is not None  # the reference pattern embeds the name pattern
    if len(nm.group(2)) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(shown, f"{ERR_NAME_TOO_LONG} (the path {nm.group(2)[:32]!r}... has {len(nm.group(2))})")
    if digest:
        _validate_digest(shown, digest)
    return Reference(nm.group(1) or "", nm.group(2), tag or None, digest or None)


def _split_docker_domain(text: str) -> tuple[str, str]:
    """distribution/reference ``splitDockerDomain``: (registry, remainder incl. tag/digest)."""
    first, slash, rest = text.partition("/")
    if not slash:
        return DEFAULT_REGISTRY, OFFICIAL_REPO_PREFIX + text
    if first == LEGACY_DEFAULT_REGISTRY:
        domain, remainder = DEFAULT_REGISTRY, rest
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_REGISTRY, text
    if domain == DEFAULT_REGISTRY and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


@functools.lru_cache(maxsize=8192)  # pure, and a repository names the same images in many files
def parse(text: str, *, normalize: bool = True) -> Reference:
    """Parse an image reference (``ParseNormalizedNamed``; with ``normalize=False``: ``Parse``).

    Raises ReferenceError_ naming the text and the bad part.
    """
    _check_length(text)
    if not normalize:
        return _parse_as_written(text, text)
    if text == "":
        raise _fail(text, f"{ERR_INVALID_FORMAT}: the reference is empty")
    if IDENTIFIER_RE.fullmatch(text):
        raise _fail(text, f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise _fail(text, f"{ERR_INVALID_FORMAT}: repository name ({remote}) must be lowercase")
    ref = _parse_as_written(f"{domain}/{remainder}", text)
    if ref.registry == "":
        # "a_b.com/x": Go keeps it as a registry-less name, which no client can pull from.
        raise _fail(text, f"{ERR_INVALID_FORMAT}: registry {domain!r} is not a valid host name")
    return ref


def parse_name(text: str) -> Reference:
    """Parse a repository alone (Helm ``image.repository``, kustomize ``newName``): no tag or digest."""
    ref = parse(text)
    if ref.tag is not None or ref.digest is not None:
        part = f":{ref.tag}" if ref.tag is not None else f"@{ref.digest}"
        raise ReferenceError_(f"invalid image name {text!r}: a repository name cannot carry a tag or digest ({part!r})")
    return ref


@functools.lru_cache(maxsize=8192)  # pure; plan splits the same written values again and again
def split(raw: str) -> tuple[str, str | None, str | None]:
    """Split a reference as written into (name text, tag, digest), byte-for-byte; validates it."""
    _check_length(raw)
    m = REFERENCE_RE.fullmatch(raw)
    if m is None:
        parse(raw)  # raises the precise error
        raise _fail(raw, ERR_INVALID_FORMAT)
    return m.group(1), m.group(2), m.group(3)


def with_tag(raw: str, tag: str | None, digest: str | None) -> str:
    """Return `raw` with its tag and digest replaced, the name kept exactly as written.

    ``with_tag("nginx:1.2", "1.3", None) == "nginx:1.3"``; a port (``localhost:5000/x``) is part
    of the name. Raises ReferenceError_ for a bad reference, tag or digest.
    """
    name, _, _ = split(raw)
    parse(name)  # the name as a whole must be valid (case, length), not just match the grammar
    if tag is not None and not TAG_RE.fullmatch(tag):
        raise ReferenceError_(
            f"invalid tag {tag!r} for {raw!r}: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"
        )
    if digest is not None and not DIGEST_RE.fullmatch(digest):
        raise ReferenceError_(f"invalid digest {digest!r} for {raw!r}: expected algorithm:hex, e.g. sha256:<64 hex>")
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def shown_version(ref: str, image: str) -> str:
    """The part of a reference after its image, short enough for a table or a chat message:
    ('reg.io/app:1.2@sha256:abcdef…', 'reg.io/app') -> '1.2@sha256:abcdef12'; a digest alone
    -> 'sha256:abcdef12'. Tags stay whole."""
    rest = ref[len(image):] if ref.startswith(image) else ref.rsplit("/", 1)[-1]
    tag, _, digest = rest.lstrip(":").partition("@")
    digest = digest[:15]  # "sha256:" + 8 hex
    return f"{tag}@{digest}" if tag and digest else tag or digest


def validate_digest(digest: str) -> str:
    """Return `digest` if go-digest accepts it (``sha256:<64 lower-case hex>``), else raise."""
    if not DIGEST_RE.fullmatch(digest) and not _DIGEST_FULL_RE.fullmatch(digest):
        raise _fail(digest, ERR_DIGEST_FORMAT)
    _validate_digest(digest, digest)
    return digest


@dataclass(frozen=True)
class TagValue:
    """What a tag field holds (Helm ``image.tag``, kustomize ``newTag``): a tag and, optionally,
    a digest pin written after it (``4.0.19.3001@sha256:2fef…``, as bjw-s app-template values do).

    The policy runs on `tag`; `digest` is the pin, which is kept and re-pinned to the chosen
    tag's digest (:meth:`text`), never written away.
    """

    tag: str
    digest: str | None = None

    @classmethod
    def read(cls, text: str) -> TagValue:
        """Split ``TAG@DIGEST``. Text that is not a tag followed by a valid digest is a tag as a
        whole (the policy then says it is not a version); it is never split half-way."""
        tag, at, digest = text.partition("@")
        if at and TAG_RE.fullmatch(tag) and DIGEST_RE.fullmatch(digest):
            try:
                _validate_digest(text, digest)
            except ReferenceError_:
                return cls(text)
            return cls(tag, digest)
        return cls(text)

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def text(self, tag: str, digest: str | None) -> str:
        """The field's new text for `tag`: pinned to `digest` when this value carried a pin (or
        when the caller asks for one); raises ReferenceError_ for a bad tag or digest."""
        if not TAG_RE.fullmatch(tag):
            raise ReferenceError_(f"invalid tag {tag!r}: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -")
        if digest is None:
            return tag
        validate_digest(digest)
        return f"{tag}@{digest}"

    def __str__(self) -> str:
        return self.tag + (f"@{self.digest}" if self.digest else "")
