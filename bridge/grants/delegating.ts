// A grant backend that hands every call to another one: the base of the wrappers that
// watch a backend at work (VerifyingBackend judges each free against every process's
// maps; replays and property tests judge each end of access against a model's truth).
// A wrapper overrides the calls it watches and nothing else.

import type {
  EndAccessResult,
  GrantBackend,
  GrantBackendStats,
  GrantExtent,
  GrantRef,
  PageRange,
  PageRelease,
} from './types.js';

export class DelegatingBackend implements GrantBackend {
  constructor(protected readonly inner: GrantBackend) {}

  get name(): GrantBackend['name'] {
    return this.inner.name;
  }
  get grantsSparsely(): boolean {
    return this.inner.grantsSparsely;
  }
  allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent {
    return this.inner.allocate(pages, options);
  }
  grantPages(extent: GrantExtent, range: PageRange): number {
    return this.inner.grantPages(extent, range);
  }
  releasePages(extent: GrantExtent, range: PageRange): PageRelease {
    return this.inner.releasePages(extent, range);
  }
  grantedPages(extent: GrantExtent): number {
    return this.inner.grantedPages(extent);
  }
  refsOf(extent: GrantExtent): readonly GrantRef[] {
    return this.inner.refsOf(extent);
  }
  discard(extent: GrantExtent, offset: number, length: number): void {
    this.inner.discard(extent, offset, length);
  }
  grow(extent: GrantExtent, pages: number): GrantExtent {
    return this.inner.grow(extent, pages);
  }
  shareFd(extent: GrantExtent): number {
    return this.inner.shareFd(extent);
  }
  endForeignAccess(extent: GrantExtent): EndAccessResult {
    return this.inner.endForeignAccess(extent);
  }
  free(extent: GrantExtent): void {
    this.inner.free(extent);
  }
  stats(): GrantBackendStats {
    return this.inner.stats();
  }
  close(): void {
    this.inner.close();
  }
}
