"""numba kernels of the fast miner (see :mod:`recommender.mining.fast`).

In: the receipts as one flat int32 array of item ranks, each receipt sorted
ascending and followed by a -1 sentinel; ``starts`` gives where each receipt
begins. Out: itemsets as a tree of nodes (parent node, last item, count).

The search is depth-first with *occurrence delivery* (as in LCM): the
occurrences of an itemset P are positions in the flat array just after the last
item of P in each receipt containing P, so the items that can extend P are
exactly those from that position to the sentinel. One pass over these suffixes
counts every extension; a second pass writes the node's projected receipts
(suffixes restricted to its frequent extensions) and delivers each occurrence
to the extension it belongs to. Extensions present in every receipt of their
node ("perfect extensions") are not searched but added by copying the finished
subtree. Buffers are stacks, so memory is bounded by the projected databases
along one path of the search, not by the output.

Items are ranked by ascending count: a rare first item has few occurrences, a
frequent one has short suffixes, which keeps every projection small.

Compiled with ``cache=True``: the first call in a fresh environment compiles
(tens of seconds) and stores the machine code in ``__pycache__`` next to this
file, or, where that is read-only, in numba's per-user cache directory
(``NUMBA_CACHE_DIR`` overrides both).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# Statuses returned by mine_range.
OK, TOO_MANY_ITEMSETS, TOO_MUCH_MEMORY = 0, 1, 2


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of a uint64, as an int64 (one POPCNT instruction where the CPU has it)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


@njit(cache=True)
def _grow(a, need):
    if need <= a.size:
        return a
    b = np.empty(max(need, 2 * a.size), a.dtype)
    b[:a.size] = a
    return b


@njit(cache=True)
def flatten(indptr, indices, col_to_rank, min_items):
    """Receipts -> one flat int32 array of item ranks, -1 after each receipt.

    Columns with ``col_to_rank < 0`` (infrequent items) are dropped, each
    receipt is sorted by rank, and receipts left with fewer than ``min_items``
    items are dropped. Also returns the number of item pairs in the kept
    receipts (an upper bound on any pair count's total).
    """
    n = indptr.size - 1
    lengths = np.zeros(n, np.int64)
    total = 0
    n_rows = 0
    pair_slots = 0
    for r in range(n):
        length = 0
        for k in range(indptr[r], indptr[r + 1]):
            if col_to_rank[indices[k]] >= 0:
                length += 1
        lengths[r] = length
        if length >= min_items:
            total += length + 1
            n_rows += 1
            pair_slots += length * (length - 1) // 2
    flat = np.empty(total, np.int32)
    starts = np.empty(n_rows, np.int64)
    pos = 0
    row = 0
    for r in range(n):
        if lengths[r] < min_items:
            continue
        starts[row] = pos
        row += 1
        a = pos
        short = lengths[r] <= 32
        for k in range(indptr[r], indptr[r + 1]):
            x = col_to_rank[indices[k]]
            if x >= 0:
                b = pos
                if short:  # insertion sort while writing: most receipts are short
                    while b > a and flat[b - 1] > x:
                        flat[b] = flat[b - 1]
                        b -= 1
                flat[b] = x
                pos += 1
        if not short:
            flat[a:pos].sort()
        flat[pos] = -1
        pos += 1
    return flat, starts, pair_slots


@njit(cache=True)
def deliver_root(flat, starts, n_items, pos_dtype_sample):
    """Occurrences of every single item: for item e, the positions after e with a non-empty suffix.

    Also returns, per item, the length of all its suffixes: the work of its first pass.
    """
    cnt = np.zeros(n_items + 1, np.int64)
    work = np.zeros(n_items, np.int64)
    for s in starts:
        p = s
        while flat[p + 1] >= 0:
            cnt[flat[p] + 1] += 1
            p += 1
        end = p  # last item of the receipt
        p = s
        while p < end:
            work[flat[p]] += end - p
            p += 1
    off = np.cumsum(cnt)
    buf = np.empty(off[n_items], pos_dtype_sample.dtype)
    fill = off[:n_items].copy()
    for s in starts:
        p = s
        while flat[p + 1] >= 0:
            e = flat[p]
            buf[fill[e]] = p + 1
            fill[e] += 1
            p += 1
    return buf, off, work


@njit(cache=True)
def pair_histogram(flat, occ, off, n_items, min_count, max_count):
    """Exact number of frequent pairs by count.

    ``hist[c]`` = number of pairs contained in exactly ``c`` receipts (c >= min_count).
    """
    hist = np.zeros(max_count + 1, np.int64)
    cnt = np.zeros(n_items, np.int64)
    touched = np.empty(n_items, np.int32)
    for e in range(n_items):
        a, b = off[e], off[e + 1]
        if b - a < min_count:
            continue
        nt = 0
        for k in range(a, b):
            p = occ[k]
            x = flat[p]
            while x >= 0:
                if cnt[x] == 0:
                    touched[nt] = x
                    nt += 1
                cnt[x] += 1
                p += 1
                x = flat[p]
        for t in range(nt):
            x = touched[t]
            if cnt[x] >= min_count:
                hist[cnt[x]] += 1
            cnt[x] = 0
    return hist


@njit(cache=True)
def mine_range(flat, root_occ, root_off, single_counts, lo, hi, n_items, min_count, max_len, perfect,
               out_parent, out_item, out_count, n_out, max_out, max_occ, bitset_words):
    """Depth-first search below the single items lo..hi-1; appends nodes to the out arrays.

    Node ids: single item e is node e; node ``n_items + i`` is out row i.
    Each expansion writes the *projected* receipts of its node (the suffixes
    restricted to the node's frequent extensions) on top of the ``db`` stack, so
    deeper levels scan ever shorter receipts.

    With ``perfect`` (only valid without a length limit), extensions contained
    in every receipt of their node are not searched: the node's finished
    subtree is copied with each of them added (Borgelt's perfect extension
    pruning), which is what keeps dense data with long itemsets fast.

    A node with at most ``64 * bitset_words`` occurrences has its subtree mined
    on bitsets instead (:func:`_bitset_subtree`): below a few hundred receipts
    an AND and a popcount per candidate beat scanning and projecting suffixes.
    Returns (status, n_out, out_parent, out_item, out_count).
    """
    if max_len < 2 or hi <= lo:
        return OK, n_out, out_parent, out_item, out_count
    cnt = np.zeros(n_items, np.int64)
    touched = np.empty(n_items, np.int32)
    slot = np.full(n_items, -1, np.int64)
    # occurrence stack; the first part holds the root occurrences of lo..hi-1
    base = root_off[lo]
    n_root = root_off[hi] - base
    occ = np.empty(max(n_root * 2, 1024), np.int64)
    occ[:n_root] = root_occ[base:base + n_root]
    db = np.empty(1 << 16, np.int32)  # projected receipts, -1 after each
    # extension stack (children of the frames on the path)
    ext_item = np.empty(1024, np.int32)
    ext_count = np.empty(1024, np.int64)
    ext_off = np.empty(1024, np.int64)
    ext_len = np.empty(1024, np.int64)
    ext_node = np.empty(1024, np.int64)
    depth_cap = 64
    f_cur = np.empty(depth_cap, np.int64)
    f_end = np.empty(depth_cap, np.int64)
    f_start = np.empty(depth_cap, np.int64)
    f_occ = np.empty(depth_cap, np.int64)
    f_db = np.empty(depth_cap, np.int64)
    f_len = np.empty(depth_cap, np.int64)  # length of the children's itemsets
    f_node = np.empty(depth_cap, np.int64)
    f_ncount = np.empty(depth_cap, np.int64)
    f_r0 = np.empty(depth_cap, np.int64)
    f_perf = np.empty(depth_cap, np.int64)
    perf = np.empty(1024, np.int32)
    # buffers of the bitset subtrees, reused from one to the next
    bits = np.empty(1024, np.uint64)
    b_item = np.empty(256, np.int32)
    b_node = np.empty(256, np.int64)
    levels = np.empty((4, 16), np.int64)
    for e0 in range(lo, hi):
        occ_top = n_root
        db_top = 0
        ext_top = 0
        perf_top = 0
        d = -1
        # the node to expand: occurrences occ[src_a:src_b] into src, its node id and length
        src = flat
        src_a = root_off[e0] - base
        src_b = root_off[e0 + 1] - base
        node = e0
        ncount = single_counts[e0]
        plen = 1
        expand = src_b - src_a >= min_count
        while True:
            if expand:
                # pass 1: count every extension of the node
                nt = 0
                for k in range(src_a, src_b):
                    p = occ[k]
                    x = src[p]
                    while x >= 0:
                        if cnt[x] == 0:
                            touched[nt] = x
                            nt += 1
                        cnt[x] += 1
                        p += 1
                        x = src[p]
                need = ext_top + nt
                if need > ext_item.size:
                    ext_item = _grow(ext_item, need)
                    ext_count = _grow(ext_count, need)
                    ext_off = _grow(ext_off, need)
                    ext_len = _grow(ext_len, need)
                    ext_node = _grow(ext_node, need)
                nf = 0
                total = 0
                perf_a = perf_top
                if perf_top + nt > perf.size:
                    perf = _grow(perf, perf_top + nt)
                for t in range(nt):
                    x = touched[t]
                    c = cnt[x]
                    cnt[x] = 0
                    if perfect and c == ncount:
                        perf[perf_top] = x
                        perf_top += 1
                    elif c >= min_count:
                        j = ext_top + nf
                        ext_item[j] = x
                        ext_count[j] = c
                        nf += 1
                        total += c
                if nf == 0 and perf_top > perf_a:
                    status, n_out, out_parent, out_item, out_count = _add_perfect(
                        node, ncount, n_out, perf[perf_a:perf_top], n_items,
                        out_parent, out_item, out_count, n_out, max_out)
                    perf_top = perf_a
                    if status != OK:
                        return status, n_out, out_parent, out_item, out_count
                if nf > 0:
                    r0 = n_out
                    if n_out + nf > max_out:
                        return TOO_MANY_ITEMSETS, n_out, out_parent, out_item, out_count
                    if n_out + nf > out_item.size:
                        out_parent = _grow(out_parent, n_out + nf)
                        out_item = _grow(out_item, n_out + nf)
                        out_count = _grow(out_count, n_out + nf)
                    for j in range(ext_top, ext_top + nf):
                        out_parent[n_out] = node
                        out_item[n_out] = ext_item[j]
                        out_count[n_out] = ext_count[j]
                        ext_node[j] = n_items + n_out
                        ext_len[j] = 0
                        n_out += 1
                    old_occ = occ_top
                    old_db = db_top
                    if plen + 1 < max_len and nf > 1 and src_b - src_a <= 64 * bitset_words:
                        # few receipts left: the whole subtree on bitsets (the children keep
                        # ext_len 0, so the frame below only finishes the node)
                        status, n_out, out_parent, out_item, out_count, bits, b_item, b_node, levels = \
                            _bitset_subtree(src, occ, src_a, src_b, ext_item, ext_node, ext_top, nf, slot,
                                            plen + 1, min_count, max_len, n_items, out_parent, out_item,
                                            out_count, n_out, max_out, bits, b_item, b_node, levels)
                        if status != OK:
                            return status, n_out, out_parent, out_item, out_count
                    elif plen + 1 < max_len and nf > 1:
                        # pass 2: project the receipts on the frequent extensions and
                        # deliver each occurrence that can still be extended
                        if occ_top + total + db_top + total + (src_b - src_a) > max_occ:
                            return TOO_MUCH_MEMORY, n_out, out_parent, out_item, out_count
                        occ = _grow(occ, occ_top + total)
                        db = _grow(db, db_top + total + (src_b - src_a))
                        for j in range(ext_top, ext_top + nf):
                            ext_off[j] = occ_top
                            ext_len[j] = occ_top  # used as the fill pointer, fixed below
                            slot[ext_item[j]] = j
                            occ_top += ext_count[j]
                        for k in range(src_a, src_b):
                            p = occ[k]
                            x = src[p]
                            row = db_top
                            while x >= 0:
                                if slot[x] >= 0:
                                    db[db_top] = x
                                    db_top += 1
                                p += 1
                                x = src[p]
                            if db_top - row < 2:
                                db_top = row  # nothing left to extend
                                continue
                            db[db_top] = -1
                            db_top += 1
                            for q in range(row, db_top - 2):
                                s = slot[db[q]]
                                occ[ext_len[s]] = q + 1
                                ext_len[s] += 1
                        for j in range(ext_top, ext_top + nf):
                            ext_len[j] -= ext_off[j]
                            slot[ext_item[j]] = -1
                    d += 1
                    if d >= depth_cap:
                        f_cur = _grow(f_cur, 2 * depth_cap)
                        f_end = _grow(f_end, 2 * depth_cap)
                        f_start = _grow(f_start, 2 * depth_cap)
                        f_occ = _grow(f_occ, 2 * depth_cap)
                        f_db = _grow(f_db, 2 * depth_cap)
                        f_len = _grow(f_len, 2 * depth_cap)
                        f_node = _grow(f_node, 2 * depth_cap)
                        f_ncount = _grow(f_ncount, 2 * depth_cap)
                        f_r0 = _grow(f_r0, 2 * depth_cap)
                        f_perf = _grow(f_perf, 2 * depth_cap)
                        depth_cap *= 2
                    f_start[d] = ext_top
                    f_cur[d] = ext_top
                    f_end[d] = ext_top + nf
                    f_occ[d] = old_occ
                    f_db[d] = old_db
                    f_len[d] = plen + 1
                    f_node[d] = node
                    f_ncount[d] = ncount
                    f_r0[d] = r0
                    f_perf[d] = perf_a
                    ext_top += nf
            # next node to expand: the next child of the deepest frame with one left
            expand = False
            while d >= 0:
                if f_cur[d] < f_end[d]:
                    j = f_cur[d]
                    f_cur[d] += 1
                    if f_len[d] < max_len and ext_len[j] >= min_count:
                        src = db
                        src_a = ext_off[j]
                        src_b = src_a + ext_len[j]
                        node = ext_node[j]
                        ncount = ext_count[j]
                        plen = f_len[d]
                        expand = True
                        break
                else:
                    occ_top = f_occ[d]
                    db_top = f_db[d]
                    ext_top = f_start[d]
                    if perf_top > f_perf[d]:
                        status, n_out, out_parent, out_item, out_count = _add_perfect(
                            f_node[d], f_ncount[d], f_r0[d], perf[f_perf[d]:perf_top], n_items,
                            out_parent, out_item, out_count, n_out, max_out)
                        if status != OK:
                            return status, n_out, out_parent, out_item, out_count
                    perf_top = f_perf[d]
                    d -= 1
            if not expand:
                break
    return OK, n_out, out_parent, out_item, out_count


@njit(cache=True)
def _bitset_subtree(src, occ, src_a, src_b, ext_item, ext_node, ext_top, nf, slot, child_len,
                    min_count, max_len, n_items, out_parent, out_item, out_count, n_out, max_out,
                    bits, b_item, b_node, levels):
    """Every frequent itemset below a node's children (already emitted), by Eclat on bitsets.

    The node's receipts are its occurrences ``occ[src_a:src_b]`` (a few
    hundred at most); child j (``ext_item[ext_top + j]``) gets one bit per
    receipt whose suffix holds it, and the count of a union is the popcount of
    an AND. Any fixed order of a class enumerates each itemset once, so the
    children stay in the order they came. The rows emitted all descend from the
    node, as :func:`_add_perfect` requires. ``bits``, ``b_item``, ``b_node``
    and ``levels`` are scratch buffers, returned (grown if needed) for reuse.
    """
    n_occ = src_b - src_a
    w = (n_occ + 63) // 64
    cap = max(2 * nf, 64)
    if cap * w > bits.size:
        bits = np.empty(cap * w, np.uint64)
    if cap > b_item.size:
        b_item = np.empty(cap, np.int32)
        b_node = np.empty(cap, np.int64)
    cap = min(bits.size // w, b_item.size)
    bits[:nf * w] = 0
    for j in range(nf):
        slot[ext_item[ext_top + j]] = j
        b_item[j] = ext_item[ext_top + j]
        b_node[j] = ext_node[ext_top + j]
    for k in range(n_occ):
        p = occ[src_a + k]
        x = src[p]
        word = k >> 6
        bit = np.uint64(1) << np.uint64(k & 63)
        while x >= 0:
            j = slot[x]
            if j >= 0:
                bits[j * w + word] |= bit
            p += 1
            x = src[p]
    for j in range(nf):
        slot[ext_item[ext_top + j]] = -1
    # levels of the search: rows start, end, next to expand and itemset length of each class
    lv = 0
    levels[0, 0] = 0
    levels[1, 0] = nf
    levels[2, 0] = 0
    levels[3, 0] = child_len
    top = nf
    while lv >= 0:
        if levels[2, lv] >= levels[1, lv] or levels[3, lv] >= max_len:
            top = levels[0, lv]
            lv -= 1
            continue
        i = levels[2, lv]
        levels[2, lv] += 1
        end = levels[1, lv]
        if top + (end - i) > cap:
            cap = max(2 * cap, top + (end - i))
            bits = _grow(bits, cap * w)
            b_item = _grow(b_item, cap)
            b_node = _grow(b_node, cap)
        start = top
        ia = i * w
        for j in range(i + 1, end):
            ja = j * w
            ta = top * w
            c = 0
            for q in range(w):
                v = bits[ia + q] & bits[ja + q]
                bits[ta + q] = v
                c += _popcount(v)
            if c >= min_count:
                if n_out + 1 > max_out:
                    return TOO_MANY_ITEMSETS, n_out, out_parent, out_item, out_count, bits, b_item, b_node, levels
                if n_out + 1 > out_item.size:
                    out_parent = _grow(out_parent, n_out + 1)
                    out_item = _grow(out_item, n_out + 1)
                    out_count = _grow(out_count, n_out + 1)
                out_parent[n_out] = b_node[i]
                out_item[n_out] = b_item[j]
                out_count[n_out] = c
                b_item[top] = b_item[j]
                b_node[top] = n_items + n_out
                n_out += 1
                top += 1
        if top - start >= 2 and levels[3, lv] + 1 < max_len:
            lv += 1
            if lv >= levels.shape[1]:
                grown = np.empty((4, 2 * lv), np.int64)
                grown[:, :lv] = levels[:, :lv]
                levels = grown
            levels[0, lv] = start
            levels[1, lv] = top
            levels[2, lv] = start
            levels[3, lv] = levels[3, lv - 1] + 1
        else:
            top = start
    return OK, n_out, out_parent, out_item, out_count, bits, b_item, b_node, levels


@njit(cache=True)
def _add_perfect(node, ncount, r0, items, n_items, out_parent, out_item, out_count, n_out, max_out):
    """Copy the subtree of ``node`` (out rows r0..n_out-1) once per perfect extension.

    Each copy hangs under a new node ``node + x`` (count ``ncount``); copies of
    earlier copies give every combination of the perfect extensions.
    """
    for x in items:
        size = n_out - r0
        if n_out + size + 1 > max_out:
            return TOO_MANY_ITEMSETS, n_out, out_parent, out_item, out_count
        if n_out + size + 1 > out_item.size:
            out_parent = _grow(out_parent, n_out + size + 1)
            out_item = _grow(out_item, n_out + size + 1)
            out_count = _grow(out_count, n_out + size + 1)
        root = n_out
        out_parent[root] = node
        out_item[root] = x
        out_count[root] = ncount
        shift = root + 1 - r0  # row i is copied to row i + shift
        for i in range(r0, root):
            par = out_parent[i]
            out_parent[i + shift] = n_items + root if par == node else par + shift
            out_item[i + shift] = out_item[i]
            out_count[i + shift] = out_count[i]
        n_out = root + 1 + size
    return OK, n_out, out_parent, out_item, out_count


@njit(cache=True)
def node_lengths(out_parent, n_out, n_items):
    """Length of each out node (single items have length 1)."""
    lengths = np.empty(n_out, np.int64)
    for i in range(n_out):
        p = out_parent[i]
        lengths[i] = 2 if p < n_items else lengths[p - n_items] + 1
    return lengths


@njit(cache=True)
def fill_itemsets(out_parent, out_item, lengths, rows, k, n_items, rank_to_col):
    """The (len(rows), k) array of column indices of out nodes ``rows`` (all of length k)."""
    res = np.empty((rows.size, k), np.int64)
    for r in range(rows.size):
        i = rows[r]
        res[r, k - 1] = rank_to_col[out_item[i]]
        p = out_parent[i]
        col = k - 2
        while p >= n_items:
            res[r, col] = rank_to_col[out_item[p - n_items]]
            p = out_parent[p - n_items]
            col -= 1
        res[r, 0] = rank_to_col[p]
        # insertion sort: rows are short and nearly sorted already
        for a in range(1, k):
            v = res[r, a]
            b = a - 1
            while b >= 0 and res[r, b] > v:
                res[r, b + 1] = res[r, b]
                b -= 1
            res[r, b + 1] = v
    return res
