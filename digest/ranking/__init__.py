"""Ranking: the day's articles grouped into stories (stories.py and the modules it uses), checked
against the stories sent before (terms.py), scored and explained (rank.py, reasons.py,
explain.py), with the sentence vectors and word frequencies of meaning.py."""
