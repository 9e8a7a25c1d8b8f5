"""The development CA: made once into its folder, and trusted by a client that loads it."""

import asyncio
import ssl

import aiohttp
from aiohttp import web

from emulator.tls import dev_certificates_ensure


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def test_certificates_are_made_once_and_the_key_is_owner_only(tmp_path):
    first = dev_certificates_ensure(tmp_path / "tls")
    ca = first.ca.read_bytes()
    again = dev_certificates_ensure(tmp_path / "tls")
    assert again.ca.read_bytes() == ca
    assert first.key.stat().st_mode & 0o077 == 0
    assert ca.decode() in first.bundle.read_text()


def test_a_client_trusting_the_ca_reaches_the_https_server(tmp_path):
    """An HTTPS server with the dev certificate is verified by name; untrusted clients fail."""
    certs = dev_certificates_ensure(tmp_path / "tls")

    async def scenario() -> tuple[str, bool]:
        app = web.Application()
        app.router.add_get("/", _ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certs.server_context())
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(
                    f"https://localhost:{port}/", ssl=certs.client_context()
                ) as response:
                    text = await response.text()
                try:
                    await session.get(
                        f"https://localhost:{port}/", ssl=ssl.create_default_context()
                    )
                    untrusted = False
                except aiohttp.ClientConnectorCertificateError:
                    untrusted = True
            return text, untrusted
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario()) == ("ok", True)
