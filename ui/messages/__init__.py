"""One message catalogue per page language: `en`, `zh_hans` (simplified) and `zh_hant` (traditional).

Each module holds MESSAGES, the same keys in every language; `{name}` fields are
filled by `ui.i18n.t`. Questions and quoted sentences are never translated.
"""
