"""WeCom callback crypto against the official sample's published vectors and, independently, against
wechatpy's implementation (encrypt with one, decrypt with the other)."""

from __future__ import annotations

import pytest

from huiyuan.integrations.wecom_crypto import CallbackRejected, WeComCrypto

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP = "ww1436e0e65a779aee"


def test_the_official_url_verification_vector() -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    echostr = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    crypto.check("012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683", echostr)
    assert crypto.decrypt(echostr) == "1288432023552776189"


def test_the_official_message_vector() -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    encrypted = (
        "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+"
        "kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4"
        "ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux0"
        "82f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
    )
    crypto.check("0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914", encrypted)
    text = crypto.decrypt(encrypted)
    assert "<Content>你好</Content>" in text and "<FromUserName>ChenJiaShun</FromUserName>" in text


def test_a_forged_or_foreign_callback_is_rejected() -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    encrypted = crypto.encrypt("hello")
    with pytest.raises(CallbackRejected):
        crypto.check("0" * 40, "1", "2", encrypted)
    with pytest.raises(CallbackRejected):
        WeComCrypto(TOKEN, AES_KEY, "ww-another-corp").decrypt(encrypted)
    with pytest.raises(CallbackRejected):
        crypto.decrypt("bm90IGNpcGhlcnRleHQ=")


def test_round_trips_with_wechatpy_as_an_independent_implementation() -> None:
    from wechatpy.enterprise.crypto import WeChatCrypto

    ours = WeComCrypto(TOKEN, AES_KEY, CORP)
    theirs = WeChatCrypto(TOKEN, AES_KEY, CORP)
    xml = "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><Content><![CDATA[会员 张三]]></Content></xml>"
    replied = theirs.encrypt_message(xml, "1597212914", "1476422779")
    encrypted = replied.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = replied.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    ours.check(signature, "1476422779", "1597212914", encrypted)
    assert ours.decrypt(encrypted) == xml
    mine = ours.encrypt(xml)
    envelope = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{mine}]]></Encrypt></xml>"
    assert theirs.decrypt_message(envelope, ours.signature("1", "2", mine), "1", "2") == xml
