"""Fasciculations in ultrasound cines: find, count and compare muscle twitches.

``analysis`` runs one cine (motion tracking in ``motion``, events in ``events``,
the muscle layer in ``layer``); ``interpretation`` compares a muscle with its
control and words the result; ``muscles`` knows which root supplies which muscle.
"""
