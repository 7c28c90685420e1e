"""Tests against real ODK clients (the XForms engine of ODK Web Forms, run in Node)."""
