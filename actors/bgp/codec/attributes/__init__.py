"""Path attributes (RFC 4271 §4.3 and §5, RFC 1997, RFC 4760, RFC 6793, RFC 8092), one
registered codec per attribute, as the other codec modules are one module per message:

- ``base``: type codes, flags, the decoded value types (``PathAttributes``), the framing of
  one attribute and ``AttributeCodec``, the entry every attribute registers;
- ``path``: ORIGIN, AS_PATH, NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, ATOMIC_AGGREGATE,
  AGGREGATOR, AS4_PATH;
- ``communities``: COMMUNITIES and LARGE_COMMUNITY, and their text forms;
- ``multiprotocol``: MP_REACH_NLRI and MP_UNREACH_NLRI, and the raw builders for bulk sends;
- ``registry``: the table keyed by type code, ``decode_attributes`` and ``encode_attributes``.

To support another attribute: an ``AttributeCodec`` in its family's ``CODECS`` (or a new
family module added to ``registry``), and its field in ``PathAttributes``.
"""
