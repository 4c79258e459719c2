"""English date formats that differ from Django's: the month written in full ("December 31,
2026" rather than "Dec. 31, 2026"), as the French "31 décembre 2026" is, in e-mails and PDFs."""

DATE_FORMAT = "F j, Y"
