"""The sales pipeline: pipelines and their stages, deals, products and deal line items."""

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from store.models.base import (
    CustomizableRow,
    Search,
    TenantRow,
    choice,
    reference,
    sealed,
    tenant_fk,
)

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "SEK", "NOK", "DKK", "INR", "BRL")
DEAL_STATUSES = ("open", "won", "lost")


def _money(description: str, *, default: Decimal | None = None) -> Any:
    return Field(default=default, sa_type=sa.Numeric(14, 2), description=description, ge=0)


class Pipeline(TenantRow, table=True):
    """A sequence of stages deals move through."""

    __tablename__ = "pipelines"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Pipeline name", max_length=100, required=True, search=Search.WORDS)
    is_default: bool = Field(default=False, description="Used when a deal names no pipeline")


class Stage(TenantRow, table=True):
    """One step of a pipeline, with the probability that a deal in it closes."""

    __tablename__ = "stages"  # pyright: ignore[reportAssignmentType]

    pipeline_id: uuid.UUID = reference("pipelines", "Pipeline this stage belongs to", required=True)
    name: bytes | None = sealed("Stage name", max_length=100, required=True, search=Search.WORDS)
    position: int = Field(default=0, ge=0, le=1000, description="Order within the pipeline")
    probability: int = Field(default=0, ge=0, le=100, description="Win probability, percent")
    outcome: str = choice("What reaching this stage means", options=DEAL_STATUSES, default="open")

    __table_args__ = (tenant_fk("pipeline_id", "pipelines", ondelete="CASCADE"),)


class Deal(CustomizableRow, table=True):
    """An opportunity to sell, moving through a pipeline's stages."""

    __tablename__ = "deals"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Deal name", max_length=200, required=True, search=Search.WORDS)
    amount: Decimal | None = _money("Expected value")
    currency: str = choice("ISO currency code", options=CURRENCIES, default="USD")
    status: str = choice("Open, won or lost", options=DEAL_STATUSES, default="open")
    close_date: date | None = Field(default=None, description="Expected or actual close date")
    pipeline_id: uuid.UUID | None = reference("pipelines", "Pipeline of the deal")
    stage_id: uuid.UUID | None = reference("stages", "Current stage")
    company_id: uuid.UUID | None = reference("companies", "Customer company")
    contact_id: uuid.UUID | None = reference("contacts", "Main contact")
    owner_id: uuid.UUID | None = reference("members", "Team member who owns the deal")
    lost_reason: bytes | None = sealed("Why the deal was lost", max_length=1000)
    notes: bytes | None = sealed("Free-form notes", max_length=10000)

    __table_args__ = (
        tenant_fk("pipeline_id", "pipelines"),
        tenant_fk("stage_id", "stages"),
        tenant_fk("company_id", "companies"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("owner_id", "members"),
        sa.Index("ix_deals_tenant_stage", "tenant_id", "stage_id"),
    )


class Product(CustomizableRow, table=True):
    """Something the team sells, with a list price."""

    __tablename__ = "products"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Product name", max_length=200, required=True, search=Search.WORDS)
    sku: bytes | None = sealed("Stock-keeping unit", max_length=100, search=Search.EXACT)
    description: bytes | None = sealed("Description", max_length=5000)
    unit_price: Decimal | None = _money("List price per unit")
    currency: str = choice("ISO currency code", options=CURRENCIES, default="USD")
    active: bool = Field(default=True, description="Still on sale")


class LineItem(TenantRow, table=True):
    """A product on a deal, with quantity and negotiated price."""

    __tablename__ = "line_items"  # pyright: ignore[reportAssignmentType]

    deal_id: uuid.UUID = reference("deals", "Deal the line belongs to", required=True)
    product_id: uuid.UUID | None = reference("products", "Product sold")
    quantity: Decimal = Field(
        default=Decimal(1), sa_type=sa.Numeric(12, 2), ge=0, description="Units"
    )
    unit_price: Decimal | None = _money("Negotiated price per unit")
    discount_percent: Decimal = Field(
        default=Decimal(0), sa_type=sa.Numeric(5, 2), ge=0, le=100, description="Discount, percent"
    )

    __table_args__ = (
        tenant_fk("deal_id", "deals", ondelete="CASCADE"),
        tenant_fk("product_id", "products"),
    )
