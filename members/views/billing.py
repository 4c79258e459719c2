"""Placeholder: being written."""


def invoice_pdf(request, **kwargs):
    raise NotImplementedError


def certificate_pdf(request, **kwargs):
    raise NotImplementedError
