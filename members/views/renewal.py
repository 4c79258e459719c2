"""Placeholder: being written."""


def renewal_details(request, **kwargs):
    raise NotImplementedError


def renewal_plan(request, **kwargs):
    raise NotImplementedError


def renewal_confirm(request, **kwargs):
    raise NotImplementedError


def renewal_link(request, **kwargs):
    raise NotImplementedError
