"""WeCom's callback crypto (WXBizMsgCrypt, ``vendor-protocols.md`` §1.5), on ``cryptography``:
SHA-1 signatures over the sorted (token, timestamp, nonce, ciphertext), AES-256-CBC with the IV
from the key, PKCS#7 to 32-byte blocks, and the receiver id (the corp id) at the end of the text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CallbackRejected(Exception):
    """A callback whose signature, padding or receiver does not check out."""


class WeComCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except ValueError as exc:
            raise ValueError("EncodingAESKey must be 43 characters of base64") from exc
        if len(self.key) != 32:
            raise ValueError("EncodingAESKey must be 43 characters of base64")
        self.token, self.receive_id = token, receive_id

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypted])).encode()).hexdigest()  # noqa: S324 - the vendor's scheme

    def check(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        if not hmac.compare_digest(self.signature(timestamp, nonce, encrypted), signature or ""):
            raise CallbackRejected("signature does not match")

    def decrypt(self, encrypted: str) -> str:
        cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))
        try:
            data = base64.b64decode(encrypted)
            decryptor = cipher.decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
        except ValueError as exc:
            raise CallbackRejected("not decryptable") from exc
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= BLOCK:
            raise CallbackRejected("bad padding")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, receiver = plain[20 : 20 + length], plain[20 + length :]
        if receiver.decode() != self.receive_id:
            raise CallbackRejected("for another receiver")
        return message.decode()

    def encrypt(self, message: str, *, random16: bytes | None = None) -> str:
        body = message.encode()
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
