"""`flask studio create-staff --email EMAIL --role viewer|admin` (password from stdin)."""

from __future__ import annotations

import sys

import click

from shopify_app import db
from shopify_app.cli import register
from shopify_app.models import StaffRole
from shopify_app.staff import accounts, passwords


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Piped: the first line of stdin, so the password never appears in argv or shell history.
    return sys.stdin.readline().rstrip("\r\n")


@click.command("create-staff")
@click.option("--email", required=True, help="The staff member's e-mail (their sign-in name).")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True,
              help="viewer: read only; admin: may act (retry, refund, grant, edit the registry).")
def create_staff_command(email: str, role: str) -> None:
    """Create a support staff account; the password is read from stdin."""
    password = _read_password()
    try:
        with db.transaction() as session:
            user = accounts.create_staff(session, email, password, StaffRole(role))
    except passwords.PasswordPolicyError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # StaffExists, bad e-mail
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {user.email}")


register(create_staff_command)
