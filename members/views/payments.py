"""Placeholder: being written."""


def invoice_detail(request, **kwargs):
    raise NotImplementedError


def card_checkout(request, **kwargs):
    raise NotImplementedError


def card_return(request, **kwargs):
    raise NotImplementedError


def stripe_webhook(request, **kwargs):
    raise NotImplementedError
