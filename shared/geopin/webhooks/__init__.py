"""Webhooks: Standard Webhooks signing, the SSRF guard, and delivery with retries.

See docs/webhooks.md for what a receiver sees and must check.
"""
