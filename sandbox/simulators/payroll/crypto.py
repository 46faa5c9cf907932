"""The payroll service's side of the field encryption (``reference/heartland.md`` §3), written apart from the
client's ``PayrollEncoder`` so a change to either derivation shows as a refused field, not as a silent match.

PBKDF2-HMAC-SHA1 over the API key with the UTF-8 username as salt, 1000 iterations, 48 bytes: the AES-256 key
(0-31) and the IV (32-47); AES-256-CBC, PKCS#5/7 padding, base64. Padding is checked here by hand, strictly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16


class Undecryptable(ValueError):
    """A field that does not decrypt under the session user's key: not base64, not whole blocks, bad padding,
    or not UTF-8 text (a client that forgot to encrypt, or encrypted with another key)."""


class FieldCipher:
    """Encrypts and decrypts fields for one (username, API key) pair."""

    def __init__(self, username: str, api_key: str) -> None:
        derived = hashlib.pbkdf2_hmac("sha1", api_key.encode("utf-8"), username.encode("utf-8"), 1000, dklen=48)
        self._cipher = Cipher(algorithms.AES256(derived[:32]), modes.CBC(derived[32:]))

    def __repr__(self) -> str:
        return "FieldCipher(<key hidden>)"

    def encrypt(self, text: str) -> str:
        data = text.encode("utf-8")
        pad = BLOCK - len(data) % BLOCK
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def decrypt(self, value: object) -> str:
        if not isinstance(value, str) or not value:
            raise Undecryptable("not an encrypted string")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Undecryptable("not base64") from None
        if not raw or len(raw) % BLOCK:
            raise Undecryptable("not whole AES blocks")
        decryptor = self._cipher.decryptor()
        clear = decryptor.update(raw) + decryptor.finalize()
        pad = clear[-1]
        if not 1 <= pad <= BLOCK or clear[-pad:] != bytes([pad]) * pad:
            raise Undecryptable("bad padding")
        try:
            text = clear[:-pad].decode("utf-8")
        except UnicodeDecodeError:
            raise Undecryptable("not UTF-8") from None
        if any(ord(char) < 32 for char in text):
            raise Undecryptable("not text")
        return text
