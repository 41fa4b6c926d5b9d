import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class EstimatedCountPaginator(Paginator):
    """An admin paginator that never counts every row of a big table on a page view.

    It counts at most EXACT_UP_TO + 1 matching rows (`SELECT COUNT(*) FROM (… LIMIT n)`: cheap on any index);
    when there are more, the count is PostgreSQL's planner estimate for the query (EXPLAIN: table statistics,
    `pg_class.reltuples` for the whole table) and `estimated` is True, so templates say "about N". Small
    results, such as a search or a narrow filter, stay exact. The last pages of an estimated count may be
    short or missing; nobody pages to row 5,000,000 of a list sorted newest first.
    """

    EXACT_UP_TO = 10_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list.order_by()
        bounded = queryset[: self.EXACT_UP_TO + 1].count()
        if bounded <= self.EXACT_UP_TO:
            return bounded
        self.estimated = True
        return max(planner_row_estimate(queryset), bounded)


def planner_row_estimate(queryset) -> int:
    """PostgreSQL's estimate of how many rows `queryset` returns (EXPLAIN, nothing is read)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
