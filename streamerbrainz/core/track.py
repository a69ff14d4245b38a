"""``Track``: what plays, as one immutable value every room shares.

The Plex parser makes it, the tracker keeps it in a ``PlayerState``, the
``PlayerStateChanged`` action carries it, and the ``/state`` document, the
hooks' ``SB_*`` variables and the log lines show it. A new field is one line
here plus the places that show it.
"""

import dataclasses

# Plex's media types by kind, in the order a player's current session is chosen.
MEDIA_KINDS = {"track": "music", "movie": "video", "episode": "video", "clip": "video",
               "video": "video", "trailer": "video", "photo": "photo"}


@dataclasses.dataclass(frozen=True)
class Track:
    """One media item: its names, its length and the keys that tell it apart."""

    title: str = ""
    artist: str = ""
    album: str = ""
    duration_ms: int = 0
    rating_key: str = ""
    session_key: str = ""
    media_type: str = ""

    def identity(self):
        """What makes a different track: the library item and the play session."""
        return (self.rating_key, self.session_key)

    def kind(self):
        """``music``, ``video``, ``photo`` or '' (unknown)."""
        return media_kind(self.media_type)

    def or_else(self, other):
        """This track with each empty field filled from ``other``."""
        return Track(**{field.name: getattr(self, field.name) or getattr(other, field.name)
                        for field in dataclasses.fields(self)})


NO_TRACK = Track()
TRACK_FIELDS = tuple(field.name for field in dataclasses.fields(Track))


def media_kind(media_type):
    """The kind of a media type: ``track`` is music, ``episode`` video, and so on."""
    return MEDIA_KINDS.get(media_type, "")
