"""Media uploads through the Mastodon client API: images only, EXIF and GPS gone before the
file is stored, orientation applied, size and pixel limits, ownership, attaching to
statuses, remote attachments, BlurHash and the served files' headers."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image, ImageCms
from sqlalchemy import func, select

from fediaid.errors import Unprocessable
from fediaid.federation.inbound import RemoteAttachment, parse_remote_note
from fediaid.services import images
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import media_attachments, statuses
from fediaid.storage.types import utcnow

RED, BLUE = (220, 20, 20), (20, 40, 220)


def exif_jpeg() -> bytes:
    """A 400x200 JPEG, left half blue and right half red, whose EXIF says "rotate 90° clockwise
    to view" (orientation 6) and carries a camera model and a GPS position."""
    img = Image.new("RGB", (400, 200), RED)
    img.paste(BLUE, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x0110] = "NeighbourCam 3000"  # Model
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}  # GPS IFD
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), comment=b"taken at 12 Elm St", quality=95)
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)[2] == (52.0, 31.0, 12.0)
    return data


def png(size: tuple[int, int] = (30, 20), mode: str = "RGB", **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG", **save)
    return buf.getvalue()


async def token(rt: Runtime, name: str = "admin", scopes: tuple[str, ...] = ("read", "write")
                ) -> dict[str, str]:
    if name != "admin":
        try:
            await rt.accounts.get_user(name)
        except Exception:
            await rt.accounts.create_user(name)
    secret = await rt.accounts.create_token(name, scopes=list(scopes))
    return {"Authorization": f"Bearer {secret}"}


async def upload(client: httpx.AsyncClient, headers: dict[str, str], data: bytes, *,
                 name: str = "IMG_0001.jpg", mime: str = "image/jpeg", version: int = 2,
                 **fields: str) -> httpx.Response:
    return await client.post(f"/api/v{version}/media", headers=headers,
                             files={"file": (name, data, mime)}, data=fields)


async def count_rows(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(media_attachments))
                    ).scalar_one())


def stored_files(rt: Runtime) -> list[str]:
    d = rt.settings.media_dir
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


async def add_status(rt: Runtime, account_id: int) -> int:
    async with rt.db.write() as conn:
        n = (await conn.execute(select(func.count()).select_from(statuses))).scalar_one()
        result = await conn.execute(statuses.insert().values(
            uri=f"{rt.settings.base_url}/test-status/{n}", account_id=account_id,
            visibility="public", listed=True, local=True, content="<p>hi</p>",
            created_at=utcnow()).returning(statuses.c.id))
        return int(result.scalar_one())


async def test_upload_strips_exif_and_gps_and_applies_orientation(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await token(runtime)
    r = await upload(client, auth, exif_jpeg(), description="A parcel on the porch")
    assert r.status_code == 200, r.text
    m = r.json()
    assert isinstance(m["id"], str) and m["type"] == "image"
    assert m["remote_url"] is None and m["preview_remote_url"] is None and m["text_url"] is None
    assert m["description"] == "A parcel on the porch"
    # Rotated upright: 200 wide, 400 high.
    assert m["meta"]["original"] == {"width": 200, "height": 400, "size": "200x400",
                                     "aspect": 0.5}
    assert m["meta"]["small"]["width"] <= 200
    assert isinstance(m["blurhash"], str) and len(m["blurhash"]) == 28
    assert "IMG_0001" not in m["url"]
    assert m["url"].startswith(runtime.settings.base_url + "/media/")

    # The stored file, fetched over HTTP like any client would.
    f = await client.get(m["url"])
    assert f.status_code == 200
    assert f.headers["content-type"] == "image/jpeg"
    assert f.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in f.headers["cache-control"]
    assert b"Exif" not in f.content and b"NeighbourCam" not in f.content
    assert b"12 Elm St" not in f.content and b"http://ns.adobe.com/xap" not in f.content
    img = Image.open(io.BytesIO(f.content))
    assert "exif" not in img.info and "icc_profile" not in img.info
    assert "comment" not in img.info
    assert len(img.getexif()) == 0 and img.getexif().get_ifd(0x8825) == {}
    assert img.size == (200, 400)
    # Orientation 6 turns the image 90° clockwise: the blue left half is now on top.
    top, bottom = img.convert("RGB").getpixel((100, 50)), img.convert("RGB").getpixel((100, 350))
    assert top[2] > 150 and top[0] < 80, top
    assert bottom[0] > 150 and bottom[2] < 80, bottom
    # The file on disk is the same cleaned one.
    on_disk = runtime.settings.media_dir / m["url"].rsplit("/", 1)[1]
    assert on_disk.read_bytes() == f.content

    preview = await client.get(m["preview_url"])
    assert preview.status_code == 200 and b"Exif" not in preview.content

    again = await client.get(f"/api/v1/media/{m['id']}", headers=auth)
    assert again.status_code == 200 and again.json() == m


async def test_v1_upload_png_with_text_chunks_and_icc(client: httpx.AsyncClient,
                                                      runtime: Runtime) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "my address is 12 Elm St")
    info.add_text("XML:com.adobe.xmp", "<x:xmpmeta>GPS</x:xmpmeta>")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = png((64, 48), pnginfo=info, icc_profile=icc)
    r = await upload(client, await token(runtime), data, name="a.png", mime="image/png",
                     version=1)
    assert r.status_code == 200, r.text
    f = await client.get(r.json()["url"])
    assert f.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(f.content))
    assert img.size == (64, 48)
    assert not ({"icc_profile", "Comment", "XML:com.adobe.xmp", "exif"} & set(img.info))
    assert b"Elm St" not in f.content and b"xmpmeta" not in f.content


async def test_animated_gif_keeps_its_first_frame_as_png(client: httpx.AsyncClient,
                                                         runtime: Runtime) -> None:
    frames = [Image.new("RGB", (20, 10), c) for c in (RED, BLUE)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    r = await upload(client, await token(runtime), buf.getvalue(), name="x.gif",
                     mime="image/gif")
    assert r.status_code == 200, r.text
    f = await client.get(r.json()["url"])
    assert f.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(f.content)).convert("RGB")
    assert img.getpixel((5, 5))[0] > 150  # the first (red) frame


@pytest.mark.parametrize("data,name,mime", [
    (b"just some text, not an image\n", "notes.txt", "text/plain"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg",
     "image/svg+xml"),
    (b"%PDF-1.4\n%fake", "x.jpg", "image/jpeg"),  # lying about its type
])
async def test_non_images_are_refused(client: httpx.AsyncClient, runtime: Runtime,
                                      data: bytes, name: str, mime: str) -> None:
    r = await upload(client, await token(runtime), data, name=name, mime=mime)
    assert r.status_code == 422, r.text
    assert "JPEG, PNG, GIF or WebP" in r.json()["error"]
    assert await count_rows(runtime) == 0 and stored_files(runtime) == []


async def test_oversized_uploads_are_refused_and_nothing_is_stored(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await token(runtime)
    runtime.settings = replace(runtime.settings, media_max_bytes=100_000)
    noise = Image.effect_noise((400, 400), 100).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > 100_000 + 64 * 1024
    r = await upload(client, auth, big, name="big.png", mime="image/png")
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["error"]
    # Without a Content-Length (chunked), the body is cut off at the limit all the same.
    form = httpx.Request("POST", "http://x/", files={"file": ("big.png", big, "image/png")})
    body = form.read()

    async def chunks() -> Any:
        for i in range(0, len(body), 16384):
            yield body[i:i + 16384]

    r = await client.post("/api/v2/media", headers=auth | {
        "Content-Type": form.headers["Content-Type"]}, content=chunks())
    assert r.status_code == 413, r.text
    # Just above the limit once the framing is read (the file itself is checked too).
    runtime.settings = replace(runtime.settings, media_max_bytes=len(big) - 10)
    r = await upload(client, auth, big, name="big.png", mime="image/png")
    assert r.status_code == 413, r.text
    assert await count_rows(runtime) == 0 and stored_files(runtime) == []


async def test_decompression_bombs_are_refused_from_the_header(client: httpx.AsyncClient,
                                                               runtime: Runtime) -> None:
    bomb = png((12000, 12000), mode="1")  # 144 million pixels in a few kilobytes
    assert len(bomb) < 100_000
    r = await upload(client, await token(runtime), bomb, name="bomb.png", mime="image/png")
    assert r.status_code == 422, r.text
    assert "too large" in r.json()["error"]
    assert await count_rows(runtime) == 0 and stored_files(runtime) == []


async def test_scopes_and_missing_file(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.post("/api/v2/media", files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 401
    read_only = await token(runtime, scopes=("read",))
    r = await upload(client, read_only, png(), mime="image/png")
    assert r.status_code == 403
    granular = await token(runtime, scopes=("write:media",))
    r = await upload(client, granular, png(), mime="image/png")
    assert r.status_code == 200
    r = await client.post("/api/v2/media", headers=granular, data={"description": "x"})
    assert r.status_code == 422 and "File" in r.json()["error"]
    r = await client.options("/api/v2/media")
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"


async def test_update_delete_and_ownership(client: httpx.AsyncClient,
                                           runtime: Runtime) -> None:
    auth = await token(runtime)
    other = await token(runtime, "maria")
    m = (await upload(client, auth, png(), mime="image/png", description="first")).json()
    url = f"/api/v1/media/{m['id']}"

    r = await client.put(url, headers=auth, json={"description": "a bag of apples",
                                                  "focus": "0.5,-0.25"})
    assert r.status_code == 200 and r.json()["description"] == "a bag of apples"
    r = await client.put(url, headers=auth, data={"focus": "0,0"})
    assert r.json()["description"] == "a bag of apples"  # not given: kept
    for bad in ({"focus": "2,0"}, {"focus": "left"}, {"description": "x" * 1501}):
        r = await client.put(url, headers=auth, json=bad)
        assert r.status_code == 422, bad
    assert (await client.get(url, headers=auth)).json()["description"] == "a bag of apples"

    # Someone else's upload does not exist for them.
    for method in ("GET", "PUT", "DELETE"):
        r = await client.request(method, url, headers=other)
        assert r.status_code == 404, method
    assert (await client.get("/api/v1/media/nope", headers=auth)).status_code == 404
    r = await client.delete(url, headers=await token(runtime, scopes=("read",)))
    assert r.status_code == 403

    name = m["url"].rsplit("/", 1)[1]
    assert name in stored_files(runtime)
    r = await client.delete(url, headers=auth)
    assert r.status_code == 200 and r.json() == {}
    assert (await client.get(url, headers=auth)).status_code == 404
    assert stored_files(runtime) == [] and await count_rows(runtime) == 0
    assert (await client.get(m["url"])).status_code == 404


async def test_attach_validates_and_statuses_render_attachments(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await token(runtime)
    mine = [int((await upload(client, auth, png(), mime="image/png")).json()["id"])
            for _ in range(5)]
    theirs = int((await upload(client, await token(runtime, "maria"), png(),
                               mime="image/png")).json()["id"])
    admin = await runtime.accounts.get_user("admin")
    status_id = await add_status(runtime, admin.actor_id)

    async def attach(ids: list[int]) -> None:
        async with runtime.db.write() as conn:
            await runtime.media.attach(conn, user_id=admin.id, media_ids=ids,
                                       status_id=status_id)

    for bad in (mine, [mine[0], theirs], [mine[0], 999_999]):
        with pytest.raises(Unprocessable):
            await attach(bad)
    assert await runtime.media.entities_for([status_id]) == {}  # nothing attached on error
    await attach(mine[:2])
    with pytest.raises(Unprocessable, match="already attached"):
        await attach([mine[1], mine[2]])
    rendered = await runtime.media.entities_for([status_id])
    assert [m["id"] for m in rendered[status_id]] == [str(i) for i in mine[:2]]
    # Attached media is read through its status, and cannot be deleted on its own.
    r = await client.get(f"/api/v1/media/{mine[0]}", headers=auth)
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/media/{mine[0]}", headers=auth)
    assert r.status_code == 422 and "used by a status" in r.json()["error"]


def remote_attachments(attachment: list[Any]) -> tuple[RemoteAttachment, ...]:
    """A remote Note's ``attachment`` as the inbox hands it over (federation/inbound)."""
    note = parse_remote_note({"id": "https://b.example/notes/1", "type": "Note",
                              "attributedTo": "https://b.example/users/bob",
                              "attachment": attachment})
    assert note is not None
    return note.attachments


async def test_remote_attachments_are_recorded_not_downloaded(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    status_id = await add_status(runtime, admin.actor_id)
    attachments = [
        {"type": "Document", "mediaType": "image/jpeg", "url": "https://b.example/1.jpg",
         "name": "A ladder", "width": 1200, "height": 800,
         "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"},
        {"type": "Document", "mediaType": "video/mp4", "url": "https://b.example/v.mp4"},
        {"type": "Image", "url": [{"type": "Link", "href": "https://b.example/2.png",
                                    "mediaType": "image/png"}]},
        {"type": "Image", "url": "javascript:alert(1)"},
        "not an object",
        {"type": "Document", "url": "https://b.example/file"},  # no media type: not an image
        {"type": "Image", "url": "https://b.example/3"},  # an Image without one: a JPEG
    ]
    async with runtime.db.write() as conn:
        n = await runtime.media.add_remote(conn, account_id=admin.actor_id,
                                           status_id=status_id,
                                           attachments=remote_attachments(attachments))
    assert n == 3
    first, second, third = (await runtime.media.entities_for([status_id]))[status_id]
    assert first["url"] == first["remote_url"] == first["preview_url"] == \
        "https://b.example/1.jpg"
    assert first["description"] == "A ladder" and first["type"] == "image"
    assert first["meta"]["original"]["aspect"] == 1.5
    assert first["blurhash"] == "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
    assert second["url"] == "https://b.example/2.png" and second["meta"] == {}
    assert third["url"] == "https://b.example/3" and third["type"] == "image"
    assert stored_files(runtime) == []


async def test_sweep_removes_stale_uploads_and_stray_files(client: httpx.AsyncClient,
                                                           runtime: Runtime) -> None:
    from datetime import timedelta

    auth = await token(runtime)
    m = (await upload(client, auth, png(), mime="image/png")).json()
    stray = runtime.settings.media_dir / "AAAAAAAAAAAAAAAAAAAAAA.png"
    stray.write_bytes(b"left over")
    unrelated = runtime.settings.media_dir / "README"
    unrelated.write_bytes(b"keep me")
    assert await runtime.media.sweep() == 0  # all too recent
    removed = await runtime.media.sweep(unattached_for=timedelta(0), stray_for=timedelta(0))
    assert removed == 2  # the unattached upload (and its preview) counts once, the stray once
    assert stored_files(runtime) == ["README"]
    assert (await client.get(m["url"])).status_code == 404


def test_blurhash_matches_the_reference_encoder() -> None:
    # Reference value computed with the `blurhash` package (woltapp's algorithm).
    rng = random.Random(1)
    img = Image.new("RGB", (32, 24))
    img.putdata([(rng.randrange(256), (x * 7) % 256, 100) for x in range(32 * 24)])
    assert images.blurhash(img) == "L4HC6[?Gru^Q}@7[.KAZwxN]$5Wp"


def test_large_photos_are_scaled_down_like_mastodon() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (5000, 3000), BLUE).save(buf, "JPEG")
    clean = images.clean_image(buf.getvalue(), max_bytes=8 << 20, max_pixels=20_000_000)
    assert clean.width * clean.height <= images.ORIGINAL_PIXELS
    assert abs(clean.width / clean.height - 5 / 3) < 0.01
    small = images.small_version(clean)
    assert small.width * small.height <= images.SMALL_PIXELS


async def test_focus_is_stored_shown_and_federated(client: httpx.AsyncClient,
                                                   runtime: Runtime) -> None:
    auth = await token(runtime)
    r = await upload(client, auth, png((60, 40)), mime="image/png", focus="0.5,-0.25")
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    url = f"/api/v1/media/{m['id']}"
    assert (await client.get(url, headers=auth)).json()["meta"]["focus"] == \
        {"x": 0.5, "y": -0.25}

    r = await client.put(url, headers=auth, data={"focus": "-1,1"})
    assert r.status_code == 200 and r.json()["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    # A description alone keeps the focus; a bad focus changes nothing.
    r = await client.put(url, headers=auth, json={"description": "two crates"})
    assert r.json()["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    for bad in ("1.5,0", "0", "x,y", "nan,0"):
        r = await client.put(url, headers=auth, data={"focus": bad, "description": "no"})
        assert r.status_code == 422, bad
    after = (await client.get(url, headers=auth)).json()
    assert after["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    assert after["description"] == "two crates"
    # Without a focus there is none in meta (as Mastodon).
    plain_one = (await upload(client, auth, png(), mime="image/png")).json()
    assert "focus" not in plain_one["meta"]

    # On a status: in the entity, and as focalPoint in the ActivityPub Note.
    r = await client.post("/api/v1/statuses", headers=auth,
                          json={"status": "crates to give away", "visibility": "public",
                                "media_ids": [m["id"], plain_one["id"]]})
    assert r.status_code == 200, r.text
    status = r.json()
    shown = [a["meta"].get("focus") for a in status["media_attachments"]]
    assert shown == [{"x": -1.0, "y": 1.0}, None]
    note = (await client.get(status["uri"],
                             headers={"Accept": "application/activity+json"})).json()
    first, second = note["attachment"]
    assert first["focalPoint"] == [-1.0, 1.0] and first["name"] == "two crates"
    assert "focalPoint" not in second

    # A remote Note's focalPoint is kept (a bad one is ignored).
    admin = await runtime.accounts.get_user("admin")
    status_id = await add_status(runtime, admin.actor_id)
    async with runtime.db.write() as conn:
        await runtime.media.add_remote(conn, account_id=admin.actor_id, status_id=status_id,
                                       attachments=remote_attachments([
            {"type": "Document", "mediaType": "image/png", "url": "https://b.example/1.png",
             "focalPoint": [0.1, -0.9]},
            {"type": "Document", "mediaType": "image/png", "url": "https://b.example/2.png",
             "focalPoint": [3, "up"]}]))
    remote = (await runtime.media.entities_for([status_id]))[status_id]
    assert [a["meta"].get("focus") for a in remote] == [{"x": 0.1, "y": -0.9}, None]
