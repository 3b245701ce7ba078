"""Execution of Admin GraphQL operations against the dev shop's state.

Every operation is parsed and validated by graphql-core against `schema.graphql` (a subset of
Shopify's schema), so a misspelled field fails with a Shopify-shaped error instead of silently
returning nothing. Resolvers read and write the dev shop's SQLite state. Costs follow Shopify's
published rules closely enough to exercise a throttle-aware client: objects 1 point, connections
2 + first x node cost, mutations 10, scalars free.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)
from graphql.type import GraphQLInterfaceType, GraphQLObjectType

from shopify_app.devshop.store import DevShopStore, now_iso

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MUTATION_COST = 10
SINGLE_QUERY_MAX_COST = 1000
MAX_PAGE = 250
MAX_INPUT_ITEMS = 250
GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)$")


@dataclass
class Context:
    store: DevShopStore
    conn: sqlite3.Connection
    touched: set[int] = field(default_factory=set)
    media_fault: Callable[[], bool] = lambda: False


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: str, kind: str | None = None) -> int | None:
    match = GID.match(value or "")
    if not match or (kind and match["type"] != kind):
        return None
    return int(match["id"])


# ----------------------------------------------------------------------------- pagination

def _cursor(item_id: int) -> str:
    return base64.b64encode(json.dumps({"last_id": item_id}).encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        return int(json.loads(base64.b64decode(cursor.encode()))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor for current pagination sort.") from None


def connection(items: Sequence[Any], key: Callable[[Any], int], node: Callable[[Any], dict[str, Any]],
               first: int | None = None, after: str | None = None, last: int | None = None,
               before: str | None = None, reverse: bool = False, **_: Any) -> dict[str, Any]:
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GraphQLError(f"The '{name}' argument must be between 0 and {MAX_PAGE}")
    ordered = list(reversed(items)) if reverse else list(items)
    keys = [key(i) for i in ordered]
    start, end = 0, len(ordered)
    if after is not None:
        after_id = _uncursor(after)
        start = keys.index(after_id) + 1 if after_id in keys else len(ordered)
    if before is not None:
        before_id = _uncursor(before)
        end = keys.index(before_id) if before_id in keys else end
    window = ordered[start:end]
    has_previous, has_next = start > 0, end < len(ordered)
    if first is not None and len(window) > first:
        window, has_next = window[:first], True
    if last is not None and len(window) > last:
        window, has_previous = window[len(window) - last:], True
    nodes = [node(i) for i in window]
    cursors = [_cursor(key(i)) for i in window]
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


# ----------------------------------------------------------------------------- objects

def _html_to_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def product_obj(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    pid = int(row["id"])

    def media_rows() -> list[sqlite3.Row]:
        return ctx.conn.execute("SELECT * FROM media WHERE product_id = ? ORDER BY position, id",
                                (pid,)).fetchall()

    def variant_rows() -> list[sqlite3.Row]:
        return ctx.conn.execute("SELECT * FROM variants WHERE product_id = ? ORDER BY position, id",
                                (pid,)).fetchall()

    def featured(info: Any) -> dict[str, Any] | None:
        rows = media_rows()
        return media_obj(ctx, rows[0]) if rows else None

    def media(info: Any, query: str | None = None, **args: Any) -> dict[str, Any]:
        rows = media_rows()
        if query:
            # Only `media_type:IMAGE` (and free text on alt) is emulated.
            text = query.replace("media_type:IMAGE", "").strip().lower()
            rows = [r for r in rows if not text or text in (r["alt"] or "").lower()]
        return connection(rows, lambda r: int(r["id"]), lambda r: media_obj(ctx, r), **args)

    def variants(info: Any, **args: Any) -> dict[str, Any]:
        return connection(variant_rows(), lambda r: int(r["id"]), lambda r: variant_obj(ctx, r), **args)

    return {
        "__typename": "Product",
        "id": gid("Product", pid),
        "legacyResourceId": str(pid),
        "title": row["title"],
        "handle": row["handle"],
        "descriptionHtml": row["description_html"],
        "description": lambda info, truncateAt=None: _html_to_text(row["description_html"])[:truncateAt],
        "vendor": row["vendor"],
        "productType": row["product_type"],
        "status": row["status"],
        "tags": json.loads(row["tags"]),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "onlineStorePreviewUrl": f"https://{ctx.store.domain}/products/{row['handle']}",
        "featuredMedia": featured,
        "mediaCount": lambda info: {"count": len(media_rows()), "precision": "EXACT"},
        "media": media,
        "variants": variants,
        "variantsCount": lambda info: {"count": len(variant_rows()), "precision": "EXACT"},
        "totalInventory": lambda info: sum(int(r["inventory_quantity"]) for r in variant_rows()),
    }


def variant_obj(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    vid = int(row["id"])

    def product(info: Any) -> dict[str, Any]:
        prow = ctx.conn.execute("SELECT * FROM products WHERE id = ?", (row["product_id"],)).fetchone()
        return product_obj(ctx, prow)

    def media(info: Any, **args: Any) -> dict[str, Any]:
        rows = ctx.conn.execute(
            "SELECT m.* FROM media m JOIN variant_media vm ON vm.media_id = m.id "
            "WHERE vm.variant_id = ? ORDER BY m.position, m.id", (vid,),
        ).fetchall()
        return connection(rows, lambda r: int(r["id"]), lambda r: media_obj(ctx, r), **args)

    options = []
    spec_names = ("Color", "Size") if row["option2"] else ("Size",)
    for name, value in zip(spec_names, (row["option1"], row["option2"])):
        if value:
            options.append({"name": name, "value": value})
    product_title = ctx.conn.execute("SELECT title FROM products WHERE id = ?", (row["product_id"],)).fetchone()
    return {
        "__typename": "ProductVariant",
        "id": gid("ProductVariant", vid),
        "legacyResourceId": str(vid),
        "title": row["title"],
        "displayName": f"{product_title['title'] if product_title else ''} - {row['title']}",
        "sku": row["sku"],
        "price": row["price"],
        "position": row["position"],
        "inventoryQuantity": row["inventory_quantity"],
        "selectedOptions": options,
        "product": product,
        "media": media,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _advance(ctx: Context, row: sqlite3.Row) -> sqlite3.Row:
    """Move a media item along UPLOADED -> PROCESSING -> READY|FAILED, once per request that
    reads it, or with time (so a page left open also sees it finish)."""
    mid = int(row["id"])
    if row["status"] in ("READY", "FAILED") or mid in ctx.touched:
        return row
    ctx.touched.add(mid)
    polls = int(row["polls"]) + 1
    elapsed = time.time() - float(row["created_ts"])
    status = row["status"]
    if status == "UPLOADED" and (polls >= 1 or elapsed >= 2):
        status = "PROCESSING"
    elif status == "PROCESSING" and (polls >= 2 or elapsed >= 4):
        status = "FAILED" if row["doomed"] else "READY"
    ctx.conn.execute("UPDATE media SET polls = ?, status = ?, updated_at = ? WHERE id = ?",
                     (polls, status, now_iso(), mid))
    return ctx.conn.execute("SELECT * FROM media WHERE id = ?", (mid,)).fetchone()


def media_obj(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    row = _advance(ctx, row)
    mid = int(row["id"])
    ready = row["status"] == "READY"
    image = {
        "id": gid("ImageSource", mid),
        "url": lambda info, transform=None: ctx.store.file_url(mid),
        "width": row["width"],
        "height": row["height"],
        "altText": row["alt"],
    } if ready else None
    errors = []
    if row["status"] == "FAILED":
        errors = [{"code": row["error_code"] or "IMAGE_PROCESSING_FAILURE",
                   "details": row["error_message"],
                   "message": row["error_message"] or "Image processing failed."}]
    return {
        "__typename": "MediaImage",
        "id": gid("MediaImage", mid),
        "alt": row["alt"],
        "mediaContentType": "IMAGE",
        "mediaErrors": errors,
        "mediaWarnings": [],
        "preview": {"image": image, "status": row["status"]},
        "status": row["status"],
        "image": image,
        "mimeType": row["mime_type"],
        "originalSource": {"fileSize": row["byte_size"], "url": ctx.store.file_url(mid) if ready else None},
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "fileErrors": errors,
        "fileStatus": row["status"],
    }


def node_obj(ctx: Context, value: str) -> dict[str, Any] | None:
    match = GID.match(value or "")
    if not match:
        raise GraphQLError(f"Invalid global id '{value}'")
    kind, number = match["type"], int(match["id"])
    table = {"Product": "products", "ProductVariant": "variants", "MediaImage": "media"}.get(kind)
    if kind == "Shop":
        return shop_obj(ctx)
    if table is None:
        return None
    row = ctx.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (number,)).fetchone()
    if row is None:
        return None
    return {"Product": product_obj, "ProductVariant": variant_obj, "MediaImage": media_obj}[kind](ctx, row)


def shop_obj(ctx: Context) -> dict[str, Any]:
    return {"__typename": "Shop", "id": gid("Shop", 1), "name": "Catalog Studio Dev Shop",
            "myshopifyDomain": ctx.store.domain, "email": "dev@example.com", "currencyCode": "USD"}


# ----------------------------------------------------------------------------- queries

def _matches(row: sqlite3.Row, query: str) -> bool:
    """A small subset of Shopify's search syntax: `field:value` terms and free words, ANDed."""
    haystack = " ".join([row["title"], row["handle"], row["product_type"], row["vendor"],
                         " ".join(json.loads(row["tags"]))]).lower()
    for term in query.split():
        if term.upper() in ("AND",):
            continue
        name, _, value = term.partition(":")
        value = value.strip("'\"*").lower()
        if not _:
            if term.strip("*").lower() not in haystack:
                return False
        elif name == "title" and value not in row["title"].lower():
            return False
        elif name == "product_type" and value != row["product_type"].lower():
            return False
        elif name == "vendor" and value != row["vendor"].lower():
            return False
        elif name in ("tag", "tags") and value not in [t.lower() for t in json.loads(row["tags"])]:
            return False
        elif name == "status" and value != row["status"].lower():
            return False
        elif name == "handle" and value != row["handle"].lower():
            return False
        elif name == "id":
            if value.startswith(">="):
                ok = int(row["id"]) >= int(value[2:])
            elif value.startswith(">"):
                ok = int(row["id"]) > int(value[1:])
            else:
                ok = str(row["id"]) == value
            if not ok:
                return False
    return True


def resolve_products(ctx: Context, sortKey: str = "ID", query: str | None = None, **args: Any) -> dict[str, Any]:
    order = {"ID": "id", "TITLE": "title, id", "CREATED_AT": "created_at, id", "UPDATED_AT": "updated_at, id"}[sortKey]
    rows = ctx.conn.execute(f"SELECT * FROM products ORDER BY {order}").fetchall()
    if query:
        rows = [r for r in rows if _matches(r, query)]
    return connection(rows, lambda r: int(r["id"]), lambda r: product_obj(ctx, r), **args)


# ----------------------------------------------------------------------------- mutations

def _user_error(field: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        error["code"] = code
    return error


def staged_uploads_create(ctx: Context, input: list[dict[str, Any]]) -> dict[str, Any]:
    if len(input) > MAX_INPUT_ITEMS:
        return {"stagedTargets": None, "userErrors": [_user_error(["input"], f"Input is limited to {MAX_INPUT_ITEMS} items")]}
    errors, targets = [], []
    for i, item in enumerate(input):
        resource = item["resource"]
        if resource in ("IMAGE", "PRODUCT_IMAGE") and not item["mimeType"].startswith("image/"):
            errors.append(_user_error(["input", str(i), "mimeType"], "Mime type is not supported for an image"))
        if not item["filename"].strip():
            errors.append(_user_error(["input", str(i), "filename"], "Filename can't be blank"))
    if errors:
        return {"stagedTargets": None, "userErrors": errors}
    for item in input:
        method = item.get("httpMethod") or "PUT"
        key = ctx.store.create_upload(item["filename"], item["mimeType"], method, conn=ctx.conn)
        signature = ctx.store.sign(key, conn=ctx.conn)
        resource_url = ctx.store.resource_url(key)
        if method == "POST":
            # Shaped like Shopify's Google Cloud Storage form-post targets.
            parameters = [
                {"name": "Content-Type", "value": item["mimeType"]},
                {"name": "success_action_status", "value": "201"},
                {"name": "acl", "value": "private"},
                {"name": "key", "value": key},
                {"name": "x-goog-algorithm", "value": "GOOG4-RSA-SHA256"},
                {"name": "x-goog-signature", "value": signature},
                {"name": "policy", "value": base64.b64encode(key.encode()).decode()},
            ]
            targets.append({"url": ctx.store.staged_url(), "resourceUrl": resource_url, "parameters": parameters})
        else:
            targets.append({
                "url": f"{resource_url}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={signature}",
                "resourceUrl": resource_url,
                "parameters": [{"name": "content_type", "value": item["mimeType"]},
                               {"name": "acl", "value": "private"}],
            })
    return {"stagedTargets": targets, "userErrors": []}


def _source(ctx: Context, original_source: str) -> tuple[str | None, str | None, str | None]:
    """(file_key, error_code, error_message) for a CreateMediaInput.originalSource."""
    parts = urlsplit(original_source)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None, "INVALID", "Image URL is invalid"
    if parts.netloc == ctx.store.domain and parts.path.startswith("/_staged_uploads/"):
        key = parts.path[len("/_staged_uploads/"):]
        upload = ctx.conn.execute("SELECT * FROM uploads WHERE key = ?", (key,)).fetchone()
        if upload is None or upload["uploaded_ts"] is None:
            # Shopify accepts the mutation, then fails processing when the file isn't there.
            return key, "IMAGE_DOWNLOAD_FAILURE", "The staged upload was never completed."
        return key, None, None
    # The dev shop has no network: an external URL can't be downloaded.
    return None, "IMAGE_DOWNLOAD_FAILURE", "The dev shop cannot download external URLs."


def product_update(ctx: Context, product: dict[str, Any] | None = None,
                   media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pid = parse_gid((product or {}).get("id") or "", "Product")
    row = ctx.conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone() if pid else None
    if row is None:
        return {"product": None, "userErrors": [_user_error(["id"], "Product does not exist")]}
    media = media or []
    errors = []
    if len(media) > MAX_INPUT_ITEMS:
        errors.append(_user_error(["media"], f"Input is limited to {MAX_INPUT_ITEMS} items"))
    for i, item in enumerate(media):
        if item["mediaContentType"] != "IMAGE":
            errors.append(_user_error(["media", str(i), "mediaContentType"],
                                      "The dev shop only supports IMAGE media"))
        if item.get("alt") and len(item["alt"]) > 512:
            errors.append(_user_error(["media", str(i), "alt"], "Alt is too long (maximum is 512 characters)"))
        if _source(ctx, item["originalSource"])[1] == "INVALID":
            errors.append(_user_error(["media", str(i), "originalSource"], "Image URL is invalid"))
    if errors:
        return {"product": None, "userErrors": errors}

    stamp = now_iso()
    updates = {k: v for k, v in (product or {}).items() if k != "id" and v is not None}
    column = {"title": "title", "descriptionHtml": "description_html", "handle": "handle",
              "productType": "product_type", "vendor": "vendor", "status": "status"}
    for name, value in updates.items():
        if name == "tags":
            ctx.conn.execute("UPDATE products SET tags = ? WHERE id = ?", (json.dumps(value), pid))
        elif name in column:
            ctx.conn.execute(f"UPDATE products SET {column[name]} = ? WHERE id = ?", (value, pid))
    position = ctx.conn.execute("SELECT COALESCE(MAX(position), -1) FROM media WHERE product_id = ?",
                                (pid,)).fetchone()[0]
    for item in media:
        key, code, message = _source(ctx, item["originalSource"])
        upload = ctx.conn.execute("SELECT * FROM uploads WHERE key = ?", (key,)).fetchone() if key else None
        doomed = code is not None or ctx.media_fault()
        if doomed and code is None:
            code, message = "IMAGE_PROCESSING_FAILURE", "Image processing failed (injected fault)."
        width = height = None
        if upload is not None and upload["uploaded_ts"] is not None:
            width, height = ctx.store.image_size(key)
        position += 1
        ctx.conn.execute(
            "INSERT INTO media (product_id, position, alt, status, file_key, original_source, mime_type, "
            "byte_size, width, height, created_ts, error_code, error_message, doomed, by_app, created_at, updated_at) "
            "VALUES (?, ?, ?, 'UPLOADED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (pid, position, item.get("alt") or "", key, item["originalSource"],
             upload["mime_type"] if upload else None, upload["byte_size"] if upload else None,
             width, height, time.time(), code, message, int(doomed), stamp, stamp),
        )
    ctx.conn.execute("UPDATE products SET updated_at = ? WHERE id = ?", (stamp, pid))
    row = ctx.conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
    # Media just created must read as UPLOADED in this response, as on Shopify.
    created = ctx.conn.execute("SELECT id FROM media WHERE product_id = ? AND status = 'UPLOADED'", (pid,))
    ctx.touched.update(int(r["id"]) for r in created)
    return {"product": product_obj(ctx, row), "userErrors": []}


def _variant_media(ctx: Context, productId: str, variantMedia: list[dict[str, Any]],
                   append: bool) -> dict[str, Any]:
    pid = parse_gid(productId, "Product")
    prow = ctx.conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone() if pid else None
    if prow is None:
        return {"product": None, "productVariants": None,
                "userErrors": [_user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]}
    errors = []
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    if sum(len(v["mediaIds"]) for v in variantMedia) > 100:
        errors.append(_user_error(["variantMedia"], "Exceeded the maximum number of 100 variant-media pairs per mutation call.",
                                  "MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED"))
    for i, item in enumerate(variantMedia):
        vid = parse_gid(item["variantId"], "ProductVariant")
        vrow = ctx.conn.execute("SELECT * FROM variants WHERE id = ? AND product_id = ?", (vid, pid)).fetchone() if vid else None
        if vrow is None:
            errors.append(_user_error(["variantMedia", str(i), "variantId"], "Variant does not exist on the given product.",
                                      "PRODUCT_VARIANT_DOES_NOT_EXIST_ON_PRODUCT"))
            continue
        if vid in seen:
            errors.append(_user_error(["variantMedia", str(i), "variantId"], "Variant was specified in more than one media input.",
                                      "PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES"))
            continue
        seen.add(vid)  # type: ignore[arg-type]
        if append and len(item["mediaIds"]) > 1:
            errors.append(_user_error(["variantMedia", str(i), "mediaIds"], "Product variant already has attached media.",
                                      "PRODUCT_VARIANT_ALREADY_HAS_MEDIA"))
            continue
        for j, media_gid in enumerate(item["mediaIds"]):
            mid = parse_gid(media_gid, "MediaImage")
            mrow = ctx.conn.execute("SELECT * FROM media WHERE id = ?", (mid,)).fetchone() if mid else None
            if mrow is None:
                errors.append(_user_error(["variantMedia", str(i), "mediaIds", str(j)], "Media does not exist.", "MEDIA_DOES_NOT_EXIST"))
            elif mrow["product_id"] != pid:
                errors.append(_user_error(["variantMedia", str(i), "mediaIds", str(j)], "Media does not exist on the given product.",
                                          "MEDIA_DOES_NOT_EXIST_ON_PRODUCT"))
            elif append and _advance(ctx, mrow)["status"] != "READY":
                errors.append(_user_error(["variantMedia", str(i), "mediaIds", str(j)], "Non-ready media are not supported.",
                                          "NON_READY_MEDIA"))
            else:
                attached = ctx.conn.execute("SELECT media_id FROM variant_media WHERE variant_id = ?", (vid,)).fetchall()
                if append and attached:
                    errors.append(_user_error(["variantMedia", str(i), "mediaIds", str(j)],
                                              "Product variant already has attached media.", "PRODUCT_VARIANT_ALREADY_HAS_MEDIA"))
                elif not append and mid not in [int(a["media_id"]) for a in attached]:
                    errors.append(_user_error(["variantMedia", str(i), "mediaIds", str(j)],
                                              "The specified media is not attached to the specified variant.",
                                              "MEDIA_IS_NOT_ATTACHED_TO_VARIANT"))
                else:
                    pairs.append((vid, mid))  # type: ignore[arg-type]
    if errors:
        return {"product": None, "productVariants": None, "userErrors": errors}
    for vid, mid in pairs:
        if append:
            ctx.conn.execute("INSERT INTO variant_media (variant_id, media_id) VALUES (?, ?)", (vid, mid))
        else:
            ctx.conn.execute("DELETE FROM variant_media WHERE variant_id = ? AND media_id = ?", (vid, mid))
    variants = [variant_obj(ctx, ctx.conn.execute("SELECT * FROM variants WHERE id = ?", (v,)).fetchone())
                for v in dict.fromkeys(v for v, _ in pairs)]
    return {"product": product_obj(ctx, prow), "productVariants": variants, "userErrors": []}


def file_update(ctx: Context, files: list[dict[str, Any]]) -> dict[str, Any]:
    errors, rows = [], []
    for i, item in enumerate(files):
        mid = parse_gid(item["id"], "MediaImage")
        row = ctx.conn.execute("SELECT * FROM media WHERE id = ?", (mid,)).fetchone() if mid else None
        if row is None:
            errors.append(_user_error(["files", str(i), "id"], f"File id {item['id']} does not exist.", "FILE_DOES_NOT_EXIST"))
            continue
        for j, ref in enumerate((item.get("referencesToAdd") or []) + (item.get("referencesToRemove") or [])):
            ref_id = parse_gid(ref, "Product")
            if ref_id is None or ctx.conn.execute("SELECT 1 FROM products WHERE id = ?", (ref_id,)).fetchone() is None:
                errors.append(_user_error(["files", str(i), "references"], f"Reference {ref} does not exist.",
                                          "REFERENCE_TARGET_DOES_NOT_EXIST"))
        rows.append((row, item))
    if errors:
        return {"files": None, "userErrors": errors}
    out = []
    stamp = now_iso()
    for row, item in rows:
        mid = int(row["id"])
        if item.get("alt") is not None:
            ctx.conn.execute("UPDATE media SET alt = ?, updated_at = ? WHERE id = ?", (item["alt"], stamp, mid))
        for ref in item.get("referencesToRemove") or []:
            if row["product_id"] == parse_gid(ref, "Product"):
                ctx.conn.execute("UPDATE media SET product_id = NULL, updated_at = ? WHERE id = ?", (stamp, mid))
                ctx.conn.execute("DELETE FROM variant_media WHERE media_id = ?", (mid,))
        for ref in item.get("referencesToAdd") or []:
            ctx.conn.execute("UPDATE media SET product_id = ?, updated_at = ? WHERE id = ?",
                             (parse_gid(ref, "Product"), stamp, mid))
        out.append(media_obj(ctx, ctx.conn.execute("SELECT * FROM media WHERE id = ?", (mid,)).fetchone()))
    return {"files": out, "userErrors": []}


def file_delete(ctx: Context, fileIds: list[str]) -> dict[str, Any]:
    ids = []
    for i, value in enumerate(fileIds):
        mid = parse_gid(value, "MediaImage")
        if mid is None or ctx.conn.execute("SELECT 1 FROM media WHERE id = ?", (mid,)).fetchone() is None:
            return {"deletedFileIds": None, "userErrors": [
                _user_error(["fileIds", str(i)], f"File id {value} does not exist.", "FILE_DOES_NOT_EXIST")]}
        ids.append(mid)
    for mid in ids:
        ctx.conn.execute("DELETE FROM media WHERE id = ?", (mid,))
    return {"deletedFileIds": [gid("MediaImage", m) for m in ids], "userErrors": []}


def product_delete_media(ctx: Context, mediaIds: list[str], productId: str) -> dict[str, Any]:
    pid = parse_gid(productId, "Product")
    prow = ctx.conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone() if pid else None
    if prow is None:
        error = _user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
        return {"deletedMediaIds": None, "deletedProductImageIds": None, "mediaUserErrors": [error],
                "product": None, "userErrors": [error]}
    ids = []
    for i, value in enumerate(mediaIds):
        mid = parse_gid(value, "MediaImage")
        row = ctx.conn.execute("SELECT * FROM media WHERE id = ? AND product_id = ?", (mid, pid)).fetchone() if mid else None
        if row is None:
            error = _user_error(["mediaIds", str(i)], "Media does not exist on the given product.", "MEDIA_DOES_NOT_EXIST_ON_PRODUCT")
            return {"deletedMediaIds": None, "deletedProductImageIds": None, "mediaUserErrors": [error],
                    "product": None, "userErrors": [error]}
        ids.append(mid)
    for mid in ids:
        ctx.conn.execute("DELETE FROM media WHERE id = ?", (mid,))
    return {"deletedMediaIds": [gid("MediaImage", m) for m in ids],
            "deletedProductImageIds": [gid("ProductImage", m) for m in ids],
            "mediaUserErrors": [], "product": product_obj(ctx, prow), "userErrors": []}


# ----------------------------------------------------------------------------- schema wiring

def _load_schema() -> GraphQLSchema:
    schema = build_schema(SCHEMA_PATH.read_text())
    query = schema.query_type
    mutation = schema.mutation_type
    assert query is not None and mutation is not None

    def ctx_of(info: Any) -> Context:
        return info.context

    def one(table: str, kind: str, build: Callable[[Context, sqlite3.Row], dict[str, Any]]) -> Callable[..., Any]:
        def resolve(_root: Any, info: Any, id: str) -> dict[str, Any] | None:
            number = parse_gid(id, kind)
            if number is None:
                raise GraphQLError(f"Invalid global id '{id}'")
            row = ctx_of(info).conn.execute(f"SELECT * FROM {table} WHERE id = ?", (number,)).fetchone()
            return build(ctx_of(info), row) if row else None
        return resolve

    query.fields["shop"].resolve = lambda _r, info: shop_obj(ctx_of(info))
    query.fields["product"].resolve = one("products", "Product", product_obj)
    query.fields["productVariant"].resolve = one("variants", "ProductVariant", variant_obj)
    query.fields["products"].resolve = lambda _r, info, **a: resolve_products(ctx_of(info), **a)
    query.fields["node"].resolve = lambda _r, info, id: node_obj(ctx_of(info), id)

    def nodes(_r: Any, info: Any, ids: list[str]) -> list[dict[str, Any] | None]:
        if len(ids) > MAX_INPUT_ITEMS:
            raise GraphQLError(f"The 'ids' argument is limited to {MAX_INPUT_ITEMS} ids")
        return [node_obj(ctx_of(info), i) for i in ids]

    query.fields["nodes"].resolve = nodes
    mutation.fields["stagedUploadsCreate"].resolve = lambda _r, info, **a: staged_uploads_create(ctx_of(info), **a)
    mutation.fields["productUpdate"].resolve = lambda _r, info, **a: product_update(ctx_of(info), **a)
    mutation.fields["productVariantAppendMedia"].resolve = lambda _r, info, **a: _variant_media(ctx_of(info), append=True, **a)
    mutation.fields["productVariantDetachMedia"].resolve = lambda _r, info, **a: _variant_media(ctx_of(info), append=False, **a)
    mutation.fields["productDeleteMedia"].resolve = lambda _r, info, **a: product_delete_media(ctx_of(info), **a)
    mutation.fields["fileUpdate"].resolve = lambda _r, info, **a: file_update(ctx_of(info), **a)
    mutation.fields["fileDelete"].resolve = lambda _r, info, **a: file_delete(ctx_of(info), **a)
    return schema


SCHEMA = _load_schema()


# ----------------------------------------------------------------------------- costs

def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in operations if o.name and o.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


def requested_cost(document: DocumentNode, operation: OperationDefinitionNode,
                   variables: dict[str, Any]) -> int:
    """The static cost Shopify would request for this operation."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def arg(node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, variables)
        return None

    def cost(parent: Any, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                    continue
                definition = parent.fields.get(name)
                if definition is None:
                    continue
                named = get_named_type(definition.type)
                if is_leaf_type(named):
                    continue
                child = cost(named, selection.selection_set)
                if named.name.endswith("Connection"):
                    size = arg(selection, "first") or arg(selection, "last") or 0
                    total += 2 + int(size) * max(child - 1, 1)  # edges/nodes wrappers count once
                elif name == "nodes" and parent.name == "QueryRoot":
                    total += len(arg(selection, "ids") or []) * (1 + child)
                else:
                    total += 1 + child
            elif isinstance(selection, InlineFragmentNode):
                target = SCHEMA.get_type(selection.type_condition.name.value) if selection.type_condition else parent
                total += cost(target, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += cost(SCHEMA.get_type(fragment.type_condition.name.value), fragment.selection_set)
        return total

    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    return max(1, cost(SCHEMA.query_type, operation.selection_set))


def actual_cost(data: Any, is_mutation: bool) -> int:
    """What the response actually cost: objects returned, connections 2 + their nodes."""
    if is_mutation:
        return MUTATION_COST * len(data or {})

    def walk(value: Any) -> int:
        if isinstance(value, list):
            return sum(walk(v) for v in value)
        if not isinstance(value, dict):
            return 0
        if "pageInfo" in value or "edges" in value or ("nodes" in value and isinstance(value["nodes"], list)):
            items = value.get("nodes") or [e.get("node") for e in value.get("edges") or [] if isinstance(e, dict)]
            return 2 + sum(walk(i) for i in items)
        return 1 + sum(walk(v) for v in value.values())

    return max(1, sum(walk(v) for v in (data or {}).values()))


# ----------------------------------------------------------------------------- entry point

@dataclass
class Prepared:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    operation_name: str | None
    cost: int

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation == OperationType.MUTATION

    @property
    def root_fields(self) -> list[str]:
        return [s.name.value for s in self.operation.selection_set.selections if isinstance(s, FieldNode)]


def _shopify_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's validation messages, reworded the way Shopify words them."""
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    undefined = re.match(r"Cannot query field '(\w+)' on type '(\w+)'", error.message)
    unknown_arg = re.match(r"Unknown argument '(\w+)' on field '(\w+)\.(\w+)'", error.message)
    if undefined:
        out["message"] = f"Field '{undefined[1]}' doesn't exist on type '{undefined[2]}'"
        out["extensions"] = {"code": "undefinedField", "typeName": undefined[2], "fieldName": undefined[1]}
    elif unknown_arg:
        out["message"] = f"Field '{unknown_arg[3]}' doesn't accept argument '{unknown_arg[1]}'"
        out["extensions"] = {"code": "argumentNotAccepted", "name": unknown_arg[3], "typeName": "Field",
                             "argumentName": unknown_arg[1]}
    elif error.message.startswith("Variable"):
        out["extensions"] = {"code": "INVALID_VARIABLE"}
    return out


def prepare(body: Any) -> Prepared | list[dict[str, Any]]:
    """Parse and validate a request body; a list of Shopify-shaped errors when it is invalid."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return [{"message": "No query string was present"}]
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return [{"message": "Variables must be an object"}]
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        return [_shopify_error(error)]
    errors = validate(SCHEMA, document)
    if errors:
        return [_shopify_error(e) for e in errors]
    operation_name = body.get("operationName")
    operation = _operation(document, operation_name)
    if operation is None:
        return [{"message": "An operation name is required when the document has several operations"}]
    return Prepared(document, operation, variables, operation_name, requested_cost(document, operation, variables))


def run(ctx: Context, prepared: Prepared) -> dict[str, Any]:
    """Execute a validated operation; returns {"data": ..., "errors": [...]?}."""
    result = execute(SCHEMA, prepared.document, context_value=ctx, variable_values=prepared.variables,
                     operation_name=prepared.operation_name)
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [_shopify_error(e) for e in result.errors]
        # Non-GraphQL exceptions are bugs in the dev shop: surface them loudly in tests.
        for error in result.errors:
            if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
                raise error.original_error
    return out
