"""Placeholder: being written."""


def invoice_detail(request, **kwargs):
    raise NotImplementedError


def invoice_pdf(request, **kwargs):
    raise NotImplementedError


def certificate_pdf(request, **kwargs):
    raise NotImplementedError
