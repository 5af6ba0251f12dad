/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dma.c - memory the NIC may access: anonymous pages mapped one by one with VFIO_IOMMU_MAP_DMA at IOVAs
 * this program chooses, so it can report every buffer's IOVA and unmap any one of them
 *
 * An unmapped page is kept (not freed) and remembered with mapped = false: its IOVA is never handed out
 * again, so a later DMA to it is a DMA to a stale IOVA, and its memory can be compared before and after.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vnic.h"

static const char *const role_names[] = {
	[DMA_RX_RING] = "rx-ring",
	[DMA_TX_RING] = "tx-ring",
	[DMA_RX_BUF] = "rx-buf",
	[DMA_TX_BUF] = "tx-buf",
};

const char *dma_role_name(enum dma_role role)
{
	return role_names[role];
}

/**
 * dma_alloc() - allocate zeroed memory and map it for the device
 * @pool:	pool with its vfio device set
 * @iova:	where the device will see it (page aligned)
 * @size:	bytes, a multiple of VNIC_PAGE_BYTES
 * @role:	what it is for (reported by `maps`)
 * @slot:	ring slot of a buffer, 0 otherwise
 * @index:	set to the page's index in @pool
 * @err:	error
 *
 * Return: 0 or -1
 */
int dma_alloc(struct dma_pool *pool, uint64_t iova, size_t size, enum dma_role role, uint32_t slot,
	      size_t *index, nl_error_t *err)
{
	struct dma_page *page;
	void *mem;

	if (!vfio_iova_usable(pool->vfio, iova, size))
		return nl_error(err, 0, "IOVA 0x%llx..0x%llx is outside the IOMMU's usable ranges: "
				"choose another --iova-base", (unsigned long long)iova,
				(unsigned long long)(iova + size - 1));
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		return nl_error(err, errno, "mmap %zu bytes for %s", size, role_names[role]);
	memset(mem, 0, size);
	if (vfio_dma_map(pool->vfio, mem, iova, size, err) < 0) {
		munmap(mem, size);
		return -1;
	}
	if (pool->n_pages == pool->alloc) {
		pool->alloc = pool->alloc ? 2 * pool->alloc : 64;
		pool->pages = xrealloc(pool->pages, pool->alloc * sizeof(*pool->pages));
	}
	page = &pool->pages[pool->n_pages];
	*page = (struct dma_page){ .iova = iova, .vaddr = mem, .size = size, .role = role, .slot = slot,
				   .mapped = true };
	*index = pool->n_pages++;
	return 0;
}

/**
 * dma_unmap() - remove a page from the IOMMU; the memory stays allocated and the IOVA is not reused
 * @pool:	pool
 * @index:	page index
 * @err:	error
 *
 * Return: 0 or -1
 */
int dma_unmap(struct dma_pool *pool, size_t index, nl_error_t *err)
{
	struct dma_page *page = &pool->pages[index];

	if (!page->mapped)
		return nl_error(err, 0, "IOVA 0x%llx is already unmapped", (unsigned long long)page->iova);
	if (vfio_dma_unmap(pool->vfio, page->iova, page->size, err) < 0)
		return -1;
	page->mapped = false;
	return 0;
}

/* dma_find() - index of the page (mapped or not) that contains @iova, or -1 */
long dma_find(const struct dma_pool *pool, uint64_t iova)
{
	for (size_t i = 0; i < pool->n_pages; i++) {
		const struct dma_page *page = &pool->pages[i];

		if (iova >= page->iova && iova - page->iova < page->size)
			return (long)i;
	}
	return -1;
}

size_t dma_mapped_count(const struct dma_pool *pool)
{
	size_t n = 0;

	for (size_t i = 0; i < pool->n_pages; i++)
		n += pool->pages[i].mapped;
	return n;
}

/* dma_release() - unmap what is still mapped (errors ignored: the container goes away next) and free */
void dma_release(struct dma_pool *pool)
{
	for (size_t i = 0; i < pool->n_pages; i++) {
		struct dma_page *page = &pool->pages[i];
		cleanup_error nl_error_t ignored = NULL;

		if (page->mapped)
			vfio_dma_unmap(pool->vfio, page->iova, page->size, &ignored);
		munmap(page->vaddr, page->size);
	}
	free(pool->pages);
	pool->pages = NULL;
	pool->n_pages = pool->alloc = 0;
}
