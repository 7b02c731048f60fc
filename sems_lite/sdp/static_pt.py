"""Static RTP payload types (RFC 3551 §6, tables 4 and 5).

A format listed in an m= line without an a=rtpmap means the static assignment below.
Values are (encoding name, clock rate, channels) so any layer can use them without
importing the SDP model.
"""

STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    # audio (table 4)
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    # G.722 samples at 16 kHz but RFC 3551 fixes its RTP clock at 8000 for history's sake.
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    # video (table 5)
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}
