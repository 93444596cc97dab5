"""What every architecture's translator shares: the cache of 4 KiB translations
(:attr:`CachedTranslator.tcache`, emptied when it reaches :data:`TCACHE_LIMIT`) with the
cached :meth:`~CachedTranslator.translate` over it, and the region bases read off the
layout. Each architecture's class (:class:`kdbg.arch.x86_64.X86_64Translator`,
:class:`kdbg.arch.arm64.Arm64Translator`) walks its own page tables in
``translate_page`` and chooses its own ``layout``."""

from __future__ import annotations

from typing import Dict, Mapping, Optional

from kdbg.arch.layout import LayoutBase

__all__ = ["CachedTranslator", "TCACHE_LIMIT"]

#: Translations cached before the cache is reset.
TCACHE_LIMIT = 1 << 20


class CachedTranslator:
    """The base of every architecture's translator."""

    tcache: Dict[int, int]

    @property
    def layout(self) -> Mapping[str, LayoutBase]:
        """``page_offset_base``, ``vmalloc_base``, ``vmemmap_base`` and their sources."""
        raise NotImplementedError

    def translate_page(self, va: int) -> int:
        """Physical base of the 4 KiB piece holding ``va`` (cached with :meth:`_cache_page`)."""
        raise NotImplementedError

    def translate(self, va: int) -> int:
        """Physical address of ``va``; ``FaultError`` when not mapped."""
        pa = self.tcache.get(va >> 12)
        if pa is None:
            pa = self.translate_page(va)
        return pa | (va & 0xFFF)

    def _cache_page(self, va: int, pa: int) -> int:
        """Remember that the 4 KiB piece holding ``va`` is at physical ``pa``; ``pa``."""
        tc = self.tcache
        if len(tc) >= TCACHE_LIMIT:
            tc.clear()
        tc[va >> 12] = pa
        return pa

    @property
    def vmalloc_base(self) -> Optional[int]:
        """``VMALLOC_START``, or ``None`` when it could not be determined."""
        return self.layout["vmalloc_base"].value

    @property
    def vmemmap_base(self) -> Optional[int]:
        """``struct page`` of pfn 0 (``VMEMMAP_START``, arm64's ``vmemmap``), or ``None``."""
        return self.layout["vmemmap_base"].value
