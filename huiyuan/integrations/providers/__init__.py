"""Vendor providers, one module each, registered on import."""

from . import aliyun_sms, dingtalk, kingdee, tencent_sms, wechat_mini, wecom  # noqa: F401
