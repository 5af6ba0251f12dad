/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfio.c - the VFIO legacy container/group API for one PCI function (Linux
 * Documentation/driver-api/vfio.rst, "VFIO Usage Example"; include/uapi/linux/vfio.h)
 *
 *	container = open /dev/vfio/vfio, check VFIO_API_VERSION
 *	group     = open /dev/vfio/<iommu_group of the BDF>, must be VIABLE (all its devices on vfio-pci)
 *	VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU (TYPE1v2, else TYPE1), VFIO_IOMMU_GET_INFO (IOVA ranges)
 *	device    = VFIO_GROUP_GET_DEVICE_FD(BDF); regions by VFIO_DEVICE_GET_REGION_INFO
 *
 * DMA mappings are VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA of exactly what was mapped: type1v2 does not
 * split a mapping, so every buffer is mapped on its own and can be unmapped on its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vnic.h"

/* read_sysfs_hex() - a sysfs attribute like "0x8086"; returns -1 when unreadable */
static long read_sysfs_hex(const char *bdf, const char *attr)
{
	char path[PATH_MAX], buf[32] = "";
	cleanup_close int fd = -1;
	ssize_t n;

	if (snprintf_checked(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	return strtol(buf, NULL, 16);
}

/* copy_str() - @src into @dst of @size bytes, cut short if needed */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* driver_of() - the name of the driver bound to @bdf into @buf, "" when none */
static void driver_of(const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	char *slash;

	buf[0] = '\0';
	if (snprintf_checked(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf) < 0)
		return;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	copy_str(buf, size, slash ? slash + 1 : target);
}

static bool supported_id(long vendor, long device)
{
	return vendor == 0x8086 && (device == 0x10c9 || device == 0x10d3);
}

/**
 * vfio_find_device() - the first igb (8086:10c9) or e1000e (8086:10d3) function in sysfs
 * @bdf:	filled with "DDDD:BB:DD.F"
 * @size:	its size
 * @err:	when none is found, lists what was seen
 *
 * A function bound to vfio-pci is preferred; otherwise the first match is returned (vfio_open() then
 * says how to bind it).
 *
 * Return: 0 or -1
 */
int vfio_find_device(char *bdf, size_t size, nl_error_t *err)
{
	DIR *dir = opendir("/sys/bus/pci/devices");
	struct dirent *de;
	char first[64] = "";
	int found = -1;

	if (!dir)
		return nl_error(err, errno, "open /sys/bus/pci/devices");
	while ((de = readdir(dir))) {
		char drv[64];

		if (de->d_name[0] == '.' ||
		    !supported_id(read_sysfs_hex(de->d_name, "vendor"), read_sysfs_hex(de->d_name, "device")))
			continue;
		driver_of(de->d_name, drv, sizeof(drv));
		if (!strcmp(drv, "vfio-pci")) {
			copy_str(bdf, size, de->d_name);
			found = 0;
			break;
		}
		if (!first[0])
			copy_str(first, sizeof(first), de->d_name);
	}
	closedir(dir);
	if (found == 0)
		return 0;
	if (first[0]) {
		copy_str(bdf, size, first);
		return 0;
	}
	return nl_error(err, 0, "no igb (8086:10c9) or e1000e (8086:10d3) PCI function found: give --device BDF");
}

/* write_sysfs() - write a string to a sysfs file */
static int write_sysfs(const char *path, const char *value, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return nl_error(err, errno, "open %s", path);
	if (write(fd, value, strlen(value)) < 0)
		return nl_error(err, errno, "write %s to %s", value, path);
	return 0;
}

/**
 * vfio_bind() - bind @bdf to vfio-pci (driver_override, unbind, drivers_probe), as the kernel's
 * Documentation/driver-api/vfio.rst describes
 * @bdf:	PCI function
 * @err:	error
 *
 * Return: 0 or -1
 */
int vfio_bind(const char *bdf, nl_error_t *err)
{
	char path[PATH_MAX], drv[64];

	driver_of(bdf, drv, sizeof(drv));
	if (!strcmp(drv, "vfio-pci"))
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (write_sysfs(path, "vfio-pci", err) < 0)
		return nl_error_wrap(err, "bind %s to vfio-pci (is vfio-pci loaded?)", bdf);
	if (drv[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		if (write_sysfs(path, bdf, err) < 0)
			return nl_error_wrap(err, "unbind %s from %s", bdf, drv);
	}
	if (write_sysfs("/sys/bus/pci/drivers_probe", bdf, err) < 0)
		return nl_error_wrap(err, "probe %s", bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci"))
		return nl_error(err, 0, "%s is bound to '%s' after the probe, not vfio-pci: is vfio-pci loaded?",
				bdf, drv);
	return 0;
}

/* group_of() - the IOMMU group number of @bdf, or -1 with @err */
static int group_of(const char *bdf, nl_error_t *err)
{
	char path[PATH_MAX], target[PATH_MAX], drv[64];
	const char *slash;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		if (access(path, F_OK) && read_sysfs_hex(bdf, "vendor") < 0)
			return nl_error(err, 0, "PCI function %s does not exist (see lspci or /sys/bus/pci/devices)",
					bdf);
		return nl_error(err, errno, "%s has no IOMMU group: boot the guest with an IOMMU "
				"(intel_iommu=on and a vIOMMU such as QEMU's intel-iommu)", bdf);
	}
	target[n] = '\0';
	if (!supported_id(read_sysfs_hex(bdf, "vendor"), read_sysfs_hex(bdf, "device")))
		return nl_error(err, 0, "%s is %04lx:%04lx, not igb (8086:10c9) or e1000e (8086:10d3)", bdf,
				read_sysfs_hex(bdf, "vendor"), read_sysfs_hex(bdf, "device"));
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci"))
		return nl_error(err, 0, "%s is bound to '%s', not vfio-pci: run `nestlab-vfio-nic bind --device %s`",
				bdf, drv[0] ? drv : "no driver", bdf);
	slash = strrchr(target, '/');
	return atoi(slash ? slash + 1 : target);
}

/* set_iommu() - attach the group's container to a type1 IOMMU, v2 preferred */
static int set_iommu(struct vfio_dev *dev, nl_error_t *err)
{
	static const struct {
		unsigned long type;
		const char *name;
	} types[] = { { VFIO_TYPE1v2_IOMMU, "type1v2" }, { VFIO_TYPE1_IOMMU, "type1" } };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (ioctl(dev->container_fd, VFIO_CHECK_EXTENSION, types[i].type) <= 0)
			continue;
		if (ioctl(dev->container_fd, VFIO_SET_IOMMU, types[i].type) < 0)
			return nl_error(err, errno, "VFIO_SET_IOMMU %s", types[i].name);
		dev->iommu_name = types[i].name;
		return 0;
	}
	return nl_error(err, 0, "the VFIO container supports neither type1v2 nor type1 (no IOMMU driver?)");
}

/* read_iova_ranges() - the usable IOVA windows (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE), if reported */
static void read_iova_ranges(struct vfio_dev *dev)
{
	struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
	cleanup_free struct vfio_iommu_type1_info *info = NULL;
	uint32_t off;

	if (ioctl(dev->container_fd, VFIO_IOMMU_GET_INFO, &probe) < 0 || probe.argsz <= sizeof(probe))
		return;
	info = xzalloc(probe.argsz);
	info->argsz = probe.argsz;
	if (ioctl(dev->container_fd, VFIO_IOMMU_GET_INFO, info) < 0 || !(info->flags & VFIO_IOMMU_INFO_CAPS))
		return;
	for (off = info->cap_offset; off && off + sizeof(struct vfio_info_cap_header) <= info->argsz;) {
		struct vfio_info_cap_header *hdr = (void *)((char *)info + off);

		if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *cap = (void *)hdr;

			if (off + sizeof(*cap) + cap->nr_iovas * sizeof(cap->iova_ranges[0]) > info->argsz)
				return;
			dev->iova_ranges = xcalloc(cap->nr_iovas, sizeof(*dev->iova_ranges));
			for (uint32_t i = 0; i < cap->nr_iovas; i++) {
				dev->iova_ranges[i].start = cap->iova_ranges[i].start;
				dev->iova_ranges[i].end = cap->iova_ranges[i].end;
			}
			dev->n_iova_ranges = cap->nr_iovas;
			return;
		}
		if (hdr->next <= off)
			return;
		off = hdr->next;
	}
}

/* open_container_and_group() - the container, the group attached to it, the IOMMU set */
static int open_container_and_group(struct vfio_dev *dev, nl_error_t *err)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];

	dev->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (dev->container_fd < 0)
		return nl_error(err, errno, "open /dev/vfio/vfio (is the vfio module loaded?)");
	if (ioctl(dev->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return nl_error(err, 0, "/dev/vfio/vfio speaks another VFIO API version than %d", VFIO_API_VERSION);
	snprintf(path, sizeof(path), "/dev/vfio/%d", dev->group_id);
	dev->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->group_fd < 0)
		return nl_error(err, errno, "open %s%s", path,
				errno == EBUSY ? " (another process, e.g. QEMU, holds the group)" : "");
	if (ioctl(dev->group_fd, VFIO_GROUP_GET_STATUS, &status) < 0)
		return nl_error(err, errno, "VFIO_GROUP_GET_STATUS %s", path);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return nl_error(err, 0, "IOMMU group %d is not viable: bind every device of "
				"/sys/kernel/iommu_groups/%d/devices to vfio-pci", dev->group_id, dev->group_id);
	if (ioctl(dev->group_fd, VFIO_GROUP_SET_CONTAINER, &dev->container_fd) < 0)
		return nl_error(err, errno, "VFIO_GROUP_SET_CONTAINER");
	if (set_iommu(dev, err) < 0)
		return -1;
	read_iova_ranges(dev);
	return 0;
}

/**
 * vfio_open() - open @bdf through VFIO and find its config region
 * @dev:	VFIO_DEV_INIT; release with vfio_close() also on error
 * @bdf:	PCI function bound to vfio-pci
 * @err:	what failed and what to do
 *
 * Return: 0 or -1
 */
int vfio_open(struct vfio_dev *dev, const char *bdf, nl_error_t *err)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };

	copy_str(dev->bdf, sizeof(dev->bdf), bdf);
	dev->group_id = group_of(bdf, err);
	if (dev->group_id < 0)
		return -1;
	if (open_container_and_group(dev, err) < 0)
		return nl_error_wrap(err, "VFIO group of %s", bdf);
	dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev->device_fd < 0)
		return nl_error(err, errno, "VFIO_GROUP_GET_DEVICE_FD %s", bdf);
	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return nl_error(err, errno, "%s: config space region info", bdf);
	dev->config_offset = cfg.offset;
	return 0;
}

void vfio_close(struct vfio_dev *dev)
{
	if (dev->bar0)
		munmap((void *)dev->bar0, dev->bar0_size);
	dev->bar0 = NULL;
	cleanup_closep(&dev->device_fd);
	cleanup_closep(&dev->group_fd);
	cleanup_closep(&dev->container_fd);
	free(dev->iova_ranges);
	dev->iova_ranges = NULL;
	dev->n_iova_ranges = 0;
}

int vfio_config_read(struct vfio_dev *dev, unsigned off, void *buf, size_t len, nl_error_t *err)
{
	if (pread(dev->device_fd, buf, len, (off_t)(dev->config_offset + off)) != (ssize_t)len)
		return nl_error(err, errno, "%s: read config space at 0x%x", dev->bdf, off);
	return 0;
}

int vfio_config_write(struct vfio_dev *dev, unsigned off, const void *buf, size_t len, nl_error_t *err)
{
	if (pwrite(dev->device_fd, buf, len, (off_t)(dev->config_offset + off)) != (ssize_t)len)
		return nl_error(err, errno, "%s: write config space at 0x%x", dev->bdf, off);
	return 0;
}

/**
 * vfio_map_bar0() - mmap the memory BAR 0 (the NIC's register file: 128 KiB on both NICs)
 * @dev:	open device
 * @err:	error
 *
 * Return: 0 or -1
 */
int vfio_map_bar0(struct vfio_dev *dev, nl_error_t *err)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	void *p;

	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &bar) < 0)
		return nl_error(err, errno, "%s: BAR0 region info", dev->bdf);
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < 0x10000)
		return nl_error(err, 0, "%s: BAR0 (%llu bytes, flags 0x%x) cannot be mmapped", dev->bdf,
				(unsigned long long)bar.size, bar.flags);
	p = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd, (off_t)bar.offset);
	if (p == MAP_FAILED)
		return nl_error(err, errno, "%s: mmap BAR0", dev->bdf);
	dev->bar0 = p;
	dev->bar0_size = bar.size;
	return 0;
}

/**
 * vfio_dma_map() - let the device read and write @size bytes at @vaddr through IOVA @iova
 * @dev:	open device (its container)
 * @vaddr:	page-aligned memory of this process; pinned by the kernel while mapped
 * @iova:	page-aligned address the device will use
 * @size:	multiple of the page size
 * @err:	error
 *
 * Return: 0 or -1
 */
int vfio_dma_map(struct vfio_dev *dev, void *vaddr, uint64_t iova, size_t size, nl_error_t *err)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (ioctl(dev->container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0)
		return nl_error(err, errno, "VFIO_IOMMU_MAP_DMA iova 0x%llx size %zu", (unsigned long long)iova,
				size);
	return 0;
}

/* vfio_dma_unmap() - undo one vfio_dma_map() exactly; the kernel reports how much it unmapped */
int vfio_dma_unmap(struct vfio_dev *dev, uint64_t iova, size_t size, nl_error_t *err)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = iova, .size = size };

	if (ioctl(dev->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		return nl_error(err, errno, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx size %zu", (unsigned long long)iova,
				size);
	if (unmap.size != size)
		return nl_error(err, 0, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx: unmapped %llu bytes, not %zu",
				(unsigned long long)iova, (unsigned long long)unmap.size, size);
	return 0;
}

/* vfio_iova_usable() - [start, start + size) inside one reported window (true when none reported) */
bool vfio_iova_usable(const struct vfio_dev *dev, uint64_t start, uint64_t size)
{
	if (!dev->n_iova_ranges)
		return true;
	for (size_t i = 0; i < dev->n_iova_ranges; i++) {
		if (start >= dev->iova_ranges[i].start && start + size - 1 <= dev->iova_ranges[i].end)
			return true;
	}
	return false;
}

/**
 * vfio_virt_to_phys() - the (guest-)physical address behind @vaddr, from /proc/self/pagemap
 * (Documentation/admin-guide/mm/pagemap.rst: bits 0-54 PFN, bit 63 present; PFNs need CAP_SYS_ADMIN)
 * @pagemap_fd:	/proc/self/pagemap opened by the caller (or -1)
 * @vaddr:	address in a pinned page
 *
 * Return: the physical address, or 0 when it cannot be read
 */
uint64_t vfio_virt_to_phys(int pagemap_fd, const void *vaddr)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t v = (uintptr_t)vaddr;
	uint64_t entry;

	if (pagemap_fd < 0 || pread(pagemap_fd, &entry, sizeof(entry), (off_t)(v / (uintptr_t)page * sizeof(entry))) !=
			      sizeof(entry))
		return 0;
	if (!(entry & (1ull << 63)) || !(entry & ((1ull << 55) - 1)))
		return 0;
	return (entry & ((1ull << 55) - 1)) * (uint64_t)page + v % (uintptr_t)page;
}
