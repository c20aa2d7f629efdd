"""One Jakarta day of reports with their whole history, generated column-wise with numpy.

Every report follows a path through the moves of domain/lifecycle.py; each move is a slot
with a time (NEVER when the path skips it). Times along a path strictly increase, so "what
has happened by now" is simply "the slots whose time <= now", and every stamped column
(verifiedAt, dueAt, firstResponseAt, resolvedAt, closedAt, rating, assignee, updatedAt) is
derived from the happened slots exactly as the lifecycle sets it. The timeline rows are the
happened slots themselves, so report and timeline cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from bench.city import City, People
from bench.pgcopy import CopyBuffer
from models.enums import ReportStatus

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NEVER = np.int64(2**62)
"""The time of a move that is not on the report's path (compares after any real time)."""
JAKARTA_OFFSET = 7 * HOUR

STATUSES = [s.value for s in ReportStatus]
SUB, VER, REJ, DUP, INP, RES, CLO, REO = (
    STATUSES.index(s)
    for s in (
        "SUBMITTED",
        "VERIFIED",
        "REJECTED",
        "DUPLICATE",
        "IN_PROGRESS",
        "RESOLVED",
        "CLOSED",
        "REOPENED",
    )
)

# Reports per Jakarta hour (relative): quiet before dawn, a morning-commute peak, steady
# through the day, a second peak after work, tailing off towards midnight.
HOURLY = np.array(
    [
        1.2,
        0.7,
        0.5,
        0.4,
        0.6,
        1.5,
        3.0,
        5.0,
        6.5,
        7.0,
        6.8,
        6.5,
        6.0,
        6.3,
        6.5,
        6.5,
        6.8,
        7.0,
        6.5,
        5.5,
        4.5,
        3.5,
        2.5,
        1.8,
    ]
)
HOURLY = HOURLY / HOURLY.sum()

# ---- the state mix (fractions; see the module docstring of bench/generate.py)
P_REJECT = 0.05  # moderator rejects from SUBMITTED
P_DUPLICATE = 0.03  # moderator marks duplicate from SUBMITTED
P_LATE_DUPLICATE = 0.01  # of verified: marked duplicate later, before anyone responds
P_ASSIGN = 0.85  # of verified: assigned to an officer
P_RESPOND = 0.88  # of verified: an officer responds (overall ~80 % of reports answered)
P_COMMENT_FIRST = 0.15  # of responses: an official comment first, progress later
P_DIRECT_RESOLVE = 0.25  # of responses: resolved straight away
P_RESOLVE = 0.93  # of started: resolved eventually
P_CONFIRM = 0.70  # of resolved: the reporter rates it (1-2 reopens, 3-5 closes)
P_REOPEN = 0.03  # of resolved: the reporter reopens without a rating
P_SECOND_ROUND = 0.70  # of reopened: worked on again
P_RESOLVE_AGAIN = 0.90  # of those: resolved again
P_CONFIRM_AGAIN = 0.60  # of re-resolved: rated (3-5) rather than auto-closed
P_ANONYMOUS = 0.05
RATING_MET = np.array([0.03, 0.05, 0.12, 0.30, 0.50])
RATING_MISSED = np.array([0.12, 0.15, 0.23, 0.28, 0.22])
RATING_AGAIN = np.array([0.0, 0.0, 0.30, 0.40, 0.30])
# Citizens' and officers' comments besides the official first responses (~0.12 per report), so
# ~0.3 per report in all; votes before the ones lost to duplicates and to --now, so ~1 kept.
COMMENTS_PER_REPORT, VOTES_PER_REPORT = 0.2, 1.08

# ---- text
DESCRIPTIONS: dict[str, list[str]] = {
    "sampah": ["Sampah menumpuk", "Tumpukan sampah belum diangkut", "Sampah berserakan dan bau"],
    "pelanggaran": [
        "Ada pelanggaran ketertiban umum",
        "Bangunan liar di atas trotoar",
        "Warga berjudi di pos",
    ],
    "parkir-liar": [
        "Parkir liar di bahu jalan",
        "Mobil parkir sembarangan menghalangi jalan",
        "Motor parkir di trotoar",
    ],
    "fasilitas-umum": ["Fasilitas taman rusak", "Bangku taman patah", "Toilet umum tidak terawat"],
    "kemacetan": [
        "Macet parah",
        "Kemacetan panjang karena lampu lalu lintas mati",
        "Antrean kendaraan mengular",
    ],
    "jalan-rusak": ["Jalan berlubang", "Aspal rusak dan membahayakan pengendara", "Jalan amblas"],
    "reklame": ["Reklame tanpa izin terpasang", "Spanduk liar di tiang listrik", "Baliho tidak berizin"],
    "lampu-jalan": ["Lampu jalan mati", "Penerangan jalan umum padam", "Lampu jalan berkedip terus"],
    "pkl": ["PKL berjualan di trotoar", "Pedagang kaki lima menutup jalan", "Lapak PKL liar"],
    "pohon": ["Pohon tumbang", "Dahan pohon hampir patah", "Pohon perlu dipangkas"],
    "banjir": ["Banjir setinggi lutut", "Genangan air tidak surut", "Air meluap ke jalan"],
    "saluran": ["Saluran air mampat", "Got tersumbat sampah", "Gorong-gorong buntu"],
    "pengemis": ["Ada pengemis di lampu merah", "Gelandangan tidur di halte", "Anak jalanan meminta-minta"],
    "transjakarta": [
        "Bus Transjakarta terlambat lama",
        "Halte Transjakarta rusak",
        "Antrean halte terlalu padat",
    ],
    "bangunan": ["Bangunan tanpa izin", "Pembangunan melanggar izin", "Renovasi tanpa izin"],
    "kriminal": ["Ada aksi pencurian", "Rawan begal di malam hari", "Tawuran warga"],
    "makanan": ["Makanan dijual tidak higienis", "Warung makan kotor", "Jajanan berpewarna berbahaya"],
    "kebakaran": ["Kebakaran rumah warga", "Api terlihat dari gudang", "Korsleting listrik memicu kebakaran"],
}
PLACES = [
    "dekat pasar", "depan sekolah", "di gang sempit", "dekat halte", "di pinggir jalan raya", "depan masjid",
    "dekat stasiun", "di samping kantor kelurahan", "dekat taman", "di ujung gang", "depan minimarket",
    "dekat jembatan",
]  # fmt: skip
STREETS = [
    "Kebon Sirih", "Sudirman", "Thamrin", "Gatot Subroto", "Rasuna Said", "Kramat Raya", "Salemba Raya",
    "Cikini Raya", "Pramuka", "Daan Mogot", "Panjang", "Fatmawati", "Kalimalang", "Pemuda", "Raya Bogor",
    "Gunung Sahari", "Mangga Dua Raya", "Tanjung Priok", "Kemang Raya", "Ciledug Raya",
]  # fmt: skip
REJECT_NOTES = [
    "Bukan laporan valid", "Foto tidak sesuai dengan laporan", "Lokasi tidak jelas",
    "Bukan kewenangan Pemprov DKI Jakarta", "Laporan tidak lengkap",
]  # fmt: skip
START_NOTES = [None, "Sedang ditindaklanjuti", "Petugas menuju lokasi", "Dalam penanganan"]
RESOLVE_NOTES = [
    "Sudah ditangani", "Sudah ditindaklanjuti, terima kasih atas laporannya",
    "Petugas telah menyelesaikan penanganan", "Selesai dikerjakan",
]  # fmt: skip
GOOD_NOTES = [None, None, "Terima kasih, sudah beres", "Mantap, cepat sekali", "Sudah bersih, terima kasih"]
BAD_NOTES = ["Belum selesai", "Masih sama seperti sebelumnya", "Hanya ditangani sebagian"]
REOPEN_NOTES = ["Masalah muncul lagi", "Belum ditangani dengan benar", "Kondisi kembali seperti semula"]
OFFICIAL_COMMENTS = [
    "Laporan sudah kami terima dan akan segera ditindaklanjuti.", "Petugas sudah dijadwalkan ke lokasi.",
    "Mohon maaf atas ketidaknyamanannya, sedang kami koordinasikan.", "Sudah kami teruskan ke unit terkait.",
    "Terima kasih atas laporannya.",
]  # fmt: skip
RESPONSE_COMMENTS = [
    "Laporan diterima, akan kami tindak lanjuti.",
    "Terima kasih, laporan sedang kami cek di lapangan.",
]
AUTHOR_COMMENTS = ["Mohon segera ditindaklanjuti.", "Kondisinya makin parah.", "Sudah ada perkembangan?"]
CITIZEN_COMMENTS = [
    "Setuju, ini sudah lama dibiarkan.", "Saya juga melihat hal yang sama.", "Tolong segera ditangani.",
    "Benar, setiap hari seperti ini.", "Semoga cepat diperbaiki.",
]  # fmt: skip


class Vocab:
    """Texts by code, so whole columns of notes are integer arrays until the COPY."""

    def __init__(self) -> None:
        self.items: list[str | None] = []

    def add(self, texts: list[str | None]) -> np.ndarray:
        """Append texts; their codes, to pick from with numpy."""
        start = len(self.items)
        self.items.extend(texts)
        return np.arange(start, start + len(texts), dtype=np.int64)


def day_start_us(day: date) -> int:
    """Unix microseconds of 00:00 Asia/Jakarta on that day."""
    return (day - date(1970, 1, 1)).days * DAY - JAKARTA_OFFSET


def lognormal(rng: np.random.Generator, median_us: float | np.ndarray, sigma: float, n: int) -> np.ndarray:
    """Durations in microseconds, at least one second (so moves on a path never tie)."""
    draw = rng.lognormal(np.log(median_us), sigma, n)
    return np.maximum(draw, US).astype(np.int64)


@dataclass
class Chunk:
    """What one day adds: COPY buffers per table, the rollup facts, per-user report counts."""

    day: date
    tables: dict[str, CopyBuffer]
    facts: dict[str, np.ndarray]
    authors: np.ndarray
    status_counts: np.ndarray
    answered: int


class DayGenerator:
    """Generates consecutive days; ids continue across days and duplicates may point back."""

    def __init__(
        self,
        city: City,
        people: People,
        rng: np.random.Generator,
        now_us: int,
        rate: int,
        auto_close_days: float,
    ) -> None:
        self.city, self.people, self.rng = city, people, rng
        self.now = np.int64(now_us)
        self.rate = rate
        self.auto_close = int(auto_close_days * DAY)
        self.next_id = {"report": 1, "status_change": 1, "comment": 1, "vote": 1}
        self.last_handled = np.zeros(city.cat_ids.size, dtype=np.int64)
        v = Vocab()
        self.reject_notes = v.add(list(REJECT_NOTES))
        self.start_notes = v.add(list(START_NOTES))
        self.resolve_notes = v.add(list(RESOLVE_NOTES))
        self.good_notes = v.add(list(GOOD_NOTES))
        self.bad_notes = v.add(list(BAD_NOTES))
        self.reopen_notes = v.add(list(REOPEN_NOTES))
        from domain.lifecycle import AUTO_CLOSE_NOTE

        self.auto_note = int(v.add([AUTO_CLOSE_NOTE.format(days=auto_close_days)])[0])
        staff_ids = np.arange(people.citizens + 1, people.total + 1)
        self.assign_note = np.full(people.total + 1, -1, dtype=np.int64)
        self.assign_note[staff_ids] = v.add(
            [f"Ditugaskan kepada @{people.handle(int(i))}" for i in staff_ids]
        )
        self.notes = v
        c = Vocab()
        self.official_comments = c.add(list(OFFICIAL_COMMENTS))
        self.response_comments = c.add(list(RESPONSE_COMMENTS))
        self.author_comments = c.add(list(AUTHOR_COMMENTS))
        self.citizen_comments = c.add(list(CITIZEN_COMMENTS))
        self.comments = c
        self.phrases = [
            DESCRIPTIONS.get(code, [f"Laporan {name.lower()}"])
            for code, name in zip(city.cat_codes, city.cat_names, strict=True)
        ]

    def _ids(self, table: str, n: int) -> np.ndarray:
        """Explicit ids, contiguous across days (the sequences are set past them at the end)."""
        first = self.next_id[table]
        self.next_id[table] = first + n
        return np.arange(first, first + n, dtype=np.int64)

    def _pick(self, codes: np.ndarray, n: int) -> np.ndarray:
        """n codes drawn uniformly (notes, comment bodies, moderators)."""
        return codes[self.rng.integers(0, codes.size, n)]

    # ---------------------------------------------------------------- duplicates

    @staticmethod
    def _latest_before(ids: np.ndarray, keys: tuple[np.ndarray, ...], candidate: np.ndarray) -> np.ndarray:
        """Per row, the largest candidate id earlier in the day with the same keys (0: none)."""
        n = ids.size
        order = np.lexsort((np.arange(n), *reversed(keys)))
        new_group = np.zeros(n, dtype=bool)
        new_group[0] = True
        for key in keys:
            k = key[order]
            new_group[1:] |= k[1:] != k[:-1]
        group = np.cumsum(new_group) - 1
        big = np.int64(ids.max() + 1)
        running = np.maximum.accumulate(group * big + np.where(candidate[order], ids[order], 0))
        before = np.empty(n, dtype=np.int64)
        before[0] = -1
        before[1:] = running[:-1] - group[1:] * big
        out = np.zeros(n, dtype=np.int64)
        out[order] = np.maximum(before, 0)
        return out

    def _duplicate_targets(
        self, ids: np.ndarray, kel: np.ndarray, cat: np.ndarray, handled: np.ndarray
    ) -> np.ndarray:
        """An earlier, handled report (never itself a duplicate or rejected): the same
        kelurahan and category if the day has one, else the same category, else the latest
        such report of an earlier day."""
        target = self._latest_before(ids, (kel, cat), handled)
        target = np.where(target == 0, self._latest_before(ids, (cat,), handled), target)
        return np.where(target == 0, self.last_handled[cat], target)

    # ---------------------------------------------------------------- a day

    def day(self, day: date) -> Chunk:
        """The reports created on one Jakarta day and everything that happened to them by now."""
        rng, city, people, now = self.rng, self.city, self.people, self.now
        n = self.rate
        rows = np.arange(n)
        start = day_start_us(day)
        hour = rng.choice(24, n, p=HOURLY)
        created = np.sort(start + hour * HOUR + rng.integers(0, HOUR, n))
        ids = self._ids("report", n)
        cat = rng.choice(city.cat_ids.size, n, p=city.cat_share)
        lat, lng, kel = city.sample_points(rng, rng.choice(city.kel_ids.size, n, p=city.kel_weight))
        kec = city.parent[kel]
        kota = city.parent[kec]
        agency = city.cat_agency[cat]
        sla = city.cat_sla_hours[cat] * HOUR
        author = people.pick_authors(rng, n)
        anonymous = rng.random(n) < P_ANONYMOUS

        # -- moderation: verify, reject or mark duplicate
        t_mod = created + lognormal(rng, 40 * MINUTE, 1.0, n)
        u = rng.random(n)
        rejected = u < P_REJECT
        dup_early = (u >= P_REJECT) & (u < P_REJECT + P_DUPLICATE)
        late_dup = ~rejected & ~dup_early & (rng.random(n) < P_LATE_DUPLICATE)
        t_late_dup = t_mod + lognormal(rng, 3 * HOUR, 1.0, n)
        handled = ~rejected & ~dup_early & ~late_dup
        target = self._duplicate_targets(ids, kel, cat, handled)
        orphan = target == 0  # the very first reports of a run have nothing to duplicate
        rejected |= dup_early & orphan
        dup_early &= ~orphan
        handled |= late_dup & orphan
        late_dup &= ~orphan
        verified = ~rejected & ~dup_early
        np.maximum.at(self.last_handled, cat[handled], ids[handled])

        # -- who: moderators, the assignee, the officer who responds
        moderator = self._pick(people.moderators, n)
        moderator2 = self._pick(people.moderators, n)
        kel_officer = people.region_officer[kel]
        dinas_officer = people.dinas_officers[agency, rng.integers(0, people.dinas_officers.shape[1], n)]
        dinas_officer = np.where(dinas_officer == 0, kel_officer, dinas_officer)
        w = rng.random(n)
        assignee = np.where(
            w < 0.55, kel_officer, np.where(w < 0.70, people.region_officer[kec], dinas_officer)
        )
        assigned = handled & (rng.random(n) < P_ASSIGN)
        responder = np.where(assigned, assignee, np.where(rng.random(n) < 0.7, kel_officer, dinas_officer))
        assigner = np.where(rng.random(n) < 0.5, moderator, assignee)

        # -- response and resolution; times scale with the category's SLA
        respond = handled & (rng.random(n) < P_RESPOND)
        t_resp = t_mod + lognormal(rng, np.clip(0.25 * sla, 30 * MINUTE, 4 * HOUR), 1.1, n)
        kind = rng.random(n)
        comment_first = respond & (kind < P_COMMENT_FIRST)
        direct = respond & (kind >= 1 - P_DIRECT_RESOLVE)
        started = respond & ~direct
        t_start = np.where(comment_first, t_resp + lognormal(rng, 2 * HOUR, 1.0, n), t_resp)
        resolves = direct | (started & (rng.random(n) < P_RESOLVE))
        t_res1 = np.where(direct, t_resp, t_start + lognormal(rng, 0.4 * sla, 0.9, n))
        frac = rng.uniform(0.2, 0.8, n)
        t_assign = np.where(
            respond,
            t_mod + ((t_resp - t_mod) * frac).astype(np.int64),
            t_mod + lognormal(rng, 45 * MINUTE, 1.0, n),
        )

        # -- the reporter's answer, or the auto-close after AUTO_CLOSE_DAYS
        limit = self.auto_close - HOUR
        v = rng.random(n)
        d_confirm = lognormal(rng, 10 * HOUR, 1.2, n)
        d_reopen = lognormal(rng, DAY, 0.8, n)
        confirm1 = (v < P_CONFIRM) & (d_confirm < limit)
        reopen1 = (v >= P_CONFIRM) & (v < P_CONFIRM + P_REOPEN) & (d_reopen < limit)
        auto1 = ~confirm1 & ~reopen1
        met = t_res1 <= t_mod + sla
        rating1 = np.where(met, rng.choice(5, n, p=RATING_MET), rng.choice(5, n, p=RATING_MISSED)) + 1
        reopened1 = (confirm1 & (rating1 <= 2)) | reopen1
        sweep = rng.integers(US, 600 * US, n)  # close_stale runs every 10 minutes
        t_out1 = np.where(
            confirm1,
            t_res1 + d_confirm,
            np.where(reopen1, t_res1 + d_reopen, t_res1 + self.auto_close + sweep),
        )
        second = resolves & reopened1 & (rng.random(n) < P_SECOND_ROUND)
        t_start2 = t_out1 + lognormal(rng, 8 * HOUR, 1.0, n)
        resolves2 = second & (rng.random(n) < P_RESOLVE_AGAIN)
        t_res2 = t_start2 + lognormal(rng, 0.4 * sla, 0.9, n)
        d_confirm2 = lognormal(rng, 10 * HOUR, 1.2, n)
        confirm2 = (rng.random(n) < P_CONFIRM_AGAIN) & (d_confirm2 < limit)
        rating2 = rng.choice(5, n, p=RATING_AGAIN) + 1
        t_out2 = np.where(confirm2, t_res2 + d_confirm2, t_res2 + self.auto_close + sweep)

        # -- the path as slots
        slots = 10
        T = np.full((n, slots), NEVER, dtype=np.int64)
        TO = np.zeros((n, slots), dtype=np.int64)
        FROM = np.full((n, slots), -1, dtype=np.int64)
        ACTOR = np.zeros((n, slots), dtype=np.int64)
        NOTE = np.full((n, slots), -1, dtype=np.int64)
        notes = list(self.notes.items)
        dup_note = np.full(n, -1, dtype=np.int64)
        dups = np.flatnonzero(dup_early | late_dup)
        dup_note[dups] = len(notes) + np.arange(dups.size)
        notes += [f"Duplikat dari laporan #{t}" for t in target[dups].tolist()]

        def put(
            slot: int, mask: np.ndarray, t: np.ndarray, frm: object, to: object, actor: object, note: object
        ) -> None:
            """Put one move on the paths of the masked reports (scalars apply to all of them)."""
            T[mask, slot] = t[mask]
            FROM[mask, slot] = np.broadcast_to(frm, (n,))[mask]
            TO[mask, slot] = np.broadcast_to(to, (n,))[mask]
            ACTOR[mask, slot] = np.broadcast_to(actor, (n,))[mask]
            NOTE[mask, slot] = np.broadcast_to(note, (n,))[mask]

        every = np.ones(n, dtype=bool)
        put(0, every, created, -1, SUB, author, -1)
        to1 = np.where(rejected, REJ, np.where(dup_early, DUP, VER))
        note1 = np.where(rejected, self._pick(self.reject_notes, n), dup_note)
        put(1, every, t_mod, SUB, to1, moderator, note1)
        put(2, assigned, t_assign, VER, VER, assigner, self.assign_note[assignee])
        put(3, late_dup, t_late_dup, VER, DUP, moderator2, dup_note)
        put(4, started, t_start, VER, INP, responder, self._pick(self.start_notes, n))
        put(
            5, resolves, t_res1, np.where(direct, VER, INP), RES, responder, self._pick(self.resolve_notes, n)
        )
        note6 = np.where(
            confirm1,
            np.where(rating1 <= 2, self._pick(self.bad_notes, n), self._pick(self.good_notes, n)),
            np.where(reopen1, self._pick(self.reopen_notes, n), self.auto_note),
        )
        put(6, resolves, t_out1, RES, np.where(reopened1, REO, CLO), np.where(auto1, 0, author), note6)
        put(7, second, t_start2, REO, INP, responder, self._pick(self.start_notes, n))
        put(8, resolves2, t_res2, INP, RES, responder, self._pick(self.resolve_notes, n))
        note9 = np.where(confirm2, self._pick(self.good_notes, n), self.auto_note)
        put(9, resolves2, t_out2, RES, CLO, np.where(confirm2, author, 0), note9)

        # -- what has happened by now, and the columns it stamps
        happened = now >= T
        last = slots - 1 - np.argmax(happened[:, ::-1], axis=1)
        status = TO[rows, last]
        verified_at = np.where(verified & happened[:, 1], t_mod, NEVER)
        due_at = np.where(verified_at < NEVER, verified_at + sla, NEVER)
        first_response = np.where(respond & (t_resp <= now), t_resp, NEVER)
        resolved_at = np.where(
            happened[:, 8], T[:, 8], np.where(happened[:, 5] & ~(happened[:, 6] & reopened1), T[:, 5], NEVER)
        )
        closed_at = np.where(happened[:, 9], T[:, 9], np.where(happened[:, 6] & ~reopened1, T[:, 6], NEVER))
        rating = np.where(
            happened[:, 9] & confirm2, rating2, np.where(happened[:, 6] & confirm1, rating1, 0)
        ).astype(np.int64)
        assignee_id = np.where(happened[:, 2], assignee, 0)
        duplicate_of = np.where((dup_early & happened[:, 1]) | (late_dup & happened[:, 3]), target, 0)

        # -- comments: citizens any time; officers' (official) ones after their first
        # response, or as the first response itself ("comment first")
        k = 0.5
        count = rng.negative_binomial(k, k / (k + COMMENTS_PER_REPORT), n)
        count[rejected] = 0
        c_rep = np.repeat(rows, count)
        m = c_rep.size
        cu = rng.random(m)
        official = respond[c_rep] & (cu < 0.45)
        by_author = ~official & (cu < 0.65)
        c_user = np.where(
            official, responder[c_rep], np.where(by_author, author[c_rep], people.pick_citizens(rng, m))
        )
        c_time = np.where(
            official,
            t_resp[c_rep] + lognormal(rng, 6 * HOUR, 1.2, m),
            created[c_rep] + lognormal(rng, 8 * HOUR, 1.5, m),
        )
        c_body = np.where(
            official,
            self._pick(self.official_comments, m),
            np.where(by_author, self._pick(self.author_comments, m), self._pick(self.citizen_comments, m)),
        )
        first = np.flatnonzero(comment_first)
        c_rep = np.concatenate([c_rep, first])
        c_user = np.concatenate([c_user, responder[first]])
        c_time = np.concatenate([c_time, t_resp[first]])
        c_body = np.concatenate([c_body, self._pick(self.response_comments, first.size)])
        official = np.concatenate([official, np.ones(first.size, dtype=bool)])
        keep = c_time <= now
        c_rep, c_user, c_time, c_body, official = (a[keep] for a in (c_rep, c_user, c_time, c_body, official))
        c_deleted_at = c_time + lognormal(rng, HOUR, 1.0, c_rep.size)
        deleted = ~official & (rng.random(c_rep.size) < 0.01) & (c_deleted_at <= now)
        order = np.lexsort((c_rep, c_time))
        c_rep, c_user, c_time, c_body, official, c_deleted_at, deleted = (
            a[order] for a in (c_rep, c_user, c_time, c_body, official, c_deleted_at, deleted)
        )
        comment_count = np.bincount(c_rep[~deleted], minlength=n)
        last_comment = np.zeros(n, dtype=np.int64)
        np.maximum.at(last_comment, c_rep, c_time)

        # -- votes: unique (report, user), never on rejected reports
        k = 0.4
        count = rng.negative_binomial(k, k / (k + VOTES_PER_REPORT), n)
        count[rejected] = 0
        v_rep = np.repeat(rows, count)
        v_user = people.pick_citizens(rng, v_rep.size)
        v_time = created[v_rep] + lognormal(rng, 4 * HOUR, 1.5, v_rep.size)
        _, unique = np.unique(v_rep * (people.total + 1) + v_user, return_index=True)
        keep = np.zeros(v_rep.size, dtype=bool)
        keep[unique] = True
        keep &= v_time <= now
        v_rep, v_user, v_time = v_rep[keep], v_user[keep], v_time[keep]
        order = np.lexsort((v_rep, v_time))
        v_rep, v_user, v_time = v_rep[order], v_user[order], v_time[order]
        vote_count = np.bincount(v_rep, minlength=n)

        updated_at = np.maximum(T[rows, last], last_comment)

        # -- COPY buffers
        tables: dict[str, CopyBuffer] = {}
        descriptions = self._descriptions(cat, kel)
        has_address = rng.random(n) < 0.35
        street = rng.integers(0, len(STREETS), n)
        number = rng.integers(1, 200, n)
        addresses = [
            f"Jl. {STREETS[s]} No. {no}" if a else None
            for a, s, no in zip(has_address.tolist(), street.tolist(), number.tolist(), strict=True)
        ]
        r = CopyBuffer(n)
        r.int4("id", ids)
        r.text("client_request_id", [f"gen-{i}" for i in ids.tolist()])
        r.int4("author_id", author)
        r.boolean("anonymous", anonymous)
        r.int4("category_id", city.cat_ids[cat])
        r.int4("agency_id", agency, null=agency == 0)
        r.int4("kelurahan_id", kel)
        r.int4("kecamatan_id", kec)
        r.int4("kota_id", kota)
        r.text_codes("status", status, STATUSES)
        r.float8("lat", lat)
        r.float8("lng", lng)
        r.text("address", addresses)
        r.text("description", descriptions)
        r.int4("assignee_id", assignee_id, null=assignee_id == 0)
        r.int4("duplicate_of_id", duplicate_of, null=duplicate_of == 0)
        r.timestamptz("created_at", created)
        r.timestamptz("updated_at", updated_at)
        for name, values in (
            ("verified_at", verified_at),
            ("first_response_at", first_response),
            ("resolved_at", resolved_at),
            ("closed_at", closed_at),
            ("due_at", due_at),
        ):
            r.timestamptz(name, values, null=values >= NEVER)
        r.int2("rating", rating, null=rating == 0)
        r.int4("vote_count", vote_count)
        r.int4("comment_count", comment_count)
        tables["report"] = r

        s_rep, s_slot = np.nonzero(happened)
        s_time = T[s_rep, s_slot]
        order = np.lexsort((s_slot, s_rep, s_time))
        s_rep, s_slot, s_time = s_rep[order], s_slot[order], s_time[order]
        s_actor = ACTOR[s_rep, s_slot]
        sc = CopyBuffer(s_rep.size)
        sc.int4("id", self._ids("status_change", s_rep.size))
        sc.int4("report_id", ids[s_rep])
        sc.text_codes("from_status", FROM[s_rep, s_slot], STATUSES)
        sc.text_codes("to_status", TO[s_rep, s_slot], STATUSES)
        sc.int4("actor_id", s_actor, null=s_actor == 0)
        sc.text_codes("note", NOTE[s_rep, s_slot], notes)
        sc.timestamptz("created_at", s_time)
        tables["status_change"] = sc

        cm = CopyBuffer(c_rep.size)
        cm.int4("id", self._ids("comment", c_rep.size))
        cm.int4("report_id", ids[c_rep])
        cm.int4("author_id", c_user)
        cm.text_codes("body", c_body, self.comments.items)
        cm.boolean("is_official", official)
        cm.timestamptz("created_at", c_time)
        cm.timestamptz("deleted_at", c_deleted_at, null=~deleted)
        tables["comment"] = cm

        vt = CopyBuffer(v_rep.size)
        vt.int4("id", self._ids("vote", v_rep.size))
        vt.int4("report_id", ids[v_rep])
        vt.int4("user_id", v_user)
        vt.timestamptz("created_at", v_time)
        tables["vote"] = vt

        facts = {
            "created_at": created,
            "status": status,
            "category_id": city.cat_ids[cat],
            "agency_id": agency,
            "kelurahan_id": kel,
            "kecamatan_id": kec,
            "kota_id": kota,
            "assignee_id": assignee_id,
            "lat": lat,
            "lng": lng,
            "verified_at": verified_at,
            "first_response_at": first_response,
            "resolved_at": resolved_at,
            "due_at": due_at,
            "rating": rating,
        }
        return Chunk(
            day=day,
            tables=tables,
            facts=facts,
            authors=author,
            status_counts=np.bincount(status, minlength=len(STATUSES)),
            answered=int((first_response < NEVER).sum()),
        )

    def _descriptions(self, cat: np.ndarray, kel: np.ndarray) -> list[str]:
        """A short Indonesian sentence: what, where, which kelurahan."""
        rng = self.rng
        n = cat.size
        which = rng.integers(0, 3, n)
        place = rng.integers(0, len(PLACES), n)
        names = self.city.region_name[kel]
        phrases = self.phrases
        return [
            f"{phrases[c][w % len(phrases[c])]} {PLACES[p]}, {name}."
            for c, w, p, name in zip(
                cat.tolist(), which.tolist(), place.tolist(), names.tolist(), strict=True
            )
        ]
