"""The volume policy as tables: which goal a change asks for, and what a plan sends."""

import unittest

from streamerbrainz.camilladsp import policy
from streamerbrainz.camilladsp.policy import (
    MUTE, NOTHING_HELD, Goal, Memory, Policy, Reading, Step)
from tests.support import model

OFFICE = "office-plexamp"
PHONE = "phone"


def change(state, previous="playing", machine_id=OFFICE):
    return model.change(machine_id=machine_id, state=state, previous_state=previous,
                        player="Office")


def drive(pause=MUTE, idle=None, local=(OFFICE,)):
    return policy.Drive(Policy(idle, pause, None, 1500), lambda machine_id: machine_id in local)


def sent(plan):
    return [(step.what, round(step.value, 2) if not isinstance(step.value, bool) else step.value)
            for step in plan.steps]


class LevelTest(unittest.TestCase):
    def test_levels_a_user_types(self):
        for raw, level in (("mute", MUTE), ("MUTE", MUTE), ("off", None), (" -40 ", -40.0),
                           ("0", 0.0), ("-150", -150.0)):
            with self.subTest(raw=raw):
                self.assertEqual(policy.parse_level(raw, "camilladsp-pause"), level)

    def test_anything_else_is_one_line_that_says_what_is_allowed(self):
        for raw in ("loud", "10", "-151", "nan", "inf", ""):
            with self.subTest(raw=raw):
                with self.assertRaises(ValueError) as caught:
                    policy.parse_level(raw, "camilladsp-idle")
                self.assertIn("-camilladsp-idle: %r is not mute, off or a level" % raw,
                              str(caught.exception))


class DriveTest(unittest.TestCase):
    def test_a_pause_of_a_local_player_seen_playing_holds_at_the_pause_level(self):
        d = drive(pause=-40.0)
        self.assertEqual(d.state_changed(change("playing", "stopped")),
                         Goal(None, "playing", "Office", "plex"))
        self.assertEqual(d.state_changed(change("paused")), Goal(-40.0, "paused", "Office"))

    def test_a_stop_holds_too(self):
        d = drive()
        d.state_changed(change("playing", "stopped"))
        self.assertEqual(d.state_changed(change("stopped")), Goal(MUTE, "stopped", "Office"))

    def test_no_hold_without_a_pause_policy(self):
        d = drive(pause=None)
        d.state_changed(change("playing", "stopped"))
        self.assertIsNone(d.state_changed(change("paused")))

    def test_a_player_that_is_not_local_never_touches_the_volume(self):
        d = drive()
        self.assertIsNone(d.state_changed(change("playing", "stopped", machine_id=PHONE)))
        self.assertIsNone(d.state_changed(change("paused", machine_id=PHONE)))

    def test_a_player_first_seen_paused_at_start_is_not_muted(self):
        d = drive(idle=MUTE)
        self.assertIsNone(d.state_changed(change("paused", previous="stopped")))
        self.assertIsNone(d.players_idle())

    def test_no_hold_while_another_local_player_plays(self):
        d = drive(local=(OFFICE, "den"))
        d.state_changed(change("playing", "stopped"))
        d.state_changed(change("playing", "stopped", machine_id="den"))
        self.assertIsNone(d.state_changed(change("paused")))

    def test_idle_holds_only_after_a_play_and_while_nothing_plays(self):
        d = drive(pause=None, idle=-30.0)
        self.assertIsNone(d.players_idle())
        d.state_changed(change("playing", "stopped"))
        self.assertIsNone(d.players_idle())
        d.state_changed(change("paused"))
        self.assertEqual(d.players_idle(), Goal(-30.0, "idle", ""))

    def test_buffering_changes_nothing(self):
        d = drive()
        d.state_changed(change("playing", "stopped"))
        self.assertIsNone(d.state_changed(change("buffering")))


USER = Reading(-23.0, False)


class HoldTest(unittest.TestCase):
    def test_mute_remembers_the_users_volume(self):
        plan = policy.plan_hold(MUTE, USER, NOTHING_HELD)
        self.assertEqual(sent(plan), [("mute", True)])
        self.assertEqual(plan.memory, Memory(USER, None, None, True))
        self.assertEqual(plan.outcome, "muted")

    def test_a_level_is_one_volume_step(self):
        plan = policy.plan_hold(-40.0, USER, NOTHING_HELD)
        self.assertEqual(sent(plan), [("volume", -40.0)])
        self.assertEqual(plan.memory, Memory(USER, -40.0, -40.0, False))

    def test_a_volume_already_below_the_level_is_left_alone(self):
        plan = policy.plan_hold(-40.0, Reading(-50.0, False), NOTHING_HELD)
        self.assertEqual(sent(plan), [])
        self.assertEqual(plan.outcome, "unchanged")

    def test_muted_already_sends_nothing_and_keeps_the_users_mute(self):
        plan = policy.plan_hold(MUTE, Reading(-23.0, True), NOTHING_HELD)
        self.assertEqual(sent(plan), [])
        self.assertEqual(plan.memory.user, Reading(-23.0, True))
        self.assertFalse(plan.memory.muted)

    def test_idle_after_a_paused_level_keeps_the_users_volume(self):
        paused = policy.plan_hold(-40.0, USER, NOTHING_HELD)
        idle = policy.plan_hold(MUTE, Reading(-40.0, False), paused.memory)
        self.assertEqual(sent(idle), [("mute", True)])
        self.assertEqual(idle.memory.user, USER)

    def test_a_fade_out_is_stepped(self):
        plan = policy.plan_hold(-43.0, USER, NOTHING_HELD, fade_s=1.0)
        self.assertEqual([round(step.at, 2) for step in plan.steps], [0.2, 0.4, 0.6, 0.8, 1.0])
        self.assertEqual(sent(plan)[-1], ("volume", -43.0))


class OpenTest(unittest.TestCase):
    def test_after_a_mute_it_fades_in_from_below_to_the_users_volume(self):
        held = Memory(USER, None, None, True)
        plan = policy.plan_open(Reading(-23.0, True), held, fade_s=1.0)
        self.assertEqual(sent(plan)[:2], [("volume", -53.0), ("mute", False)])
        self.assertEqual(sent(plan)[-1], ("volume", -23.0))
        self.assertEqual([round(s.at, 2) for s in plan.steps[2:]], [0.2, 0.4, 0.6, 0.8, 1.0])
        self.assertTrue(plan.releases)
        self.assertEqual(plan.outcome, "restored")

    def test_without_a_fade_it_unmutes_at_once(self):
        plan = policy.plan_open(Reading(-23.0, True), Memory(USER, None, None, True))
        self.assertEqual(sent(plan), [("mute", False)])

    def test_the_user_turned_the_knob_while_muted_and_play_restores_the_new_value(self):
        plan = policy.plan_open(Reading(-30.0, True), Memory(USER, None, None, True))
        self.assertEqual(sent(plan), [("mute", False)])
        self.assertEqual(plan.memory.user.volume, -30.0)

    def test_the_user_turned_the_knob_while_lowered_and_play_keeps_it(self):
        held = Memory(USER, -40.0, -40.0, False)
        plan = policy.plan_open(Reading(-35.0, False), held, fade_s=1.0)
        self.assertEqual(sent(plan), [])
        self.assertEqual(plan.outcome, "taken over")

    def test_a_lowered_level_fades_back_up_to_the_users_volume(self):
        held = Memory(USER, -40.0, -40.0, False)
        plan = policy.plan_open(Reading(-40.0, False), held, fade_s=0.4)
        self.assertEqual(sent(plan), [("volume", -31.5), ("volume", -23.0)])

    def test_the_user_unmuted_while_held_and_nothing_is_sent(self):
        plan = policy.plan_open(Reading(-23.0, False), Memory(USER, None, None, True), fade_s=1)
        self.assertEqual(sent(plan), [])

    def test_a_user_who_had_muted_stays_muted(self):
        plan = policy.plan_open(Reading(-23.0, True), Memory(Reading(-23.0, True), None, None,
                                                             False))
        self.assertEqual(sent(plan), [])

    def test_the_cap_holds_on_restore(self):
        held = Memory(Reading(5.0, False), None, None, True)
        plan = policy.plan_open(Reading(5.0, True), held, cap=-10.0)
        self.assertEqual(sent(plan), [("volume", -10.0), ("mute", False)])

    def test_the_cap_holds_on_play_with_nothing_held(self):
        plan = policy.plan_open(Reading(6.0, False), NOTHING_HELD, cap=-10.0)
        self.assertEqual(plan.steps, [Step(0.0, "cap", -10.0)])
        self.assertEqual(plan.outcome, "capped")
        self.assertEqual(sent(policy.plan_open(Reading(-12.0, False), NOTHING_HELD, cap=-10.0)),
                         [])

    def test_nothing_held_and_no_cap_sends_nothing(self):
        self.assertEqual(sent(policy.plan_open(USER, NOTHING_HELD)), [])

    def test_a_play_during_a_fade_out_turns_it_around_from_where_it_is(self):
        fading = policy.plan_hold(-60.0, USER, NOTHING_HELD, fade_s=1.0)
        where = fading.steps[1].value  # two steps sent, then play
        plan = policy.plan_open(Reading(where, False), fading.memory, fade_s=0.4)
        self.assertEqual(sent(plan)[-1], ("volume", -23.0))
        self.assertGreater(plan.steps[0].value, where)

    def test_a_pause_during_a_fade_in_keeps_the_users_volume(self):
        fading = policy.plan_open(Reading(-23.0, True), Memory(USER, None, None, True), fade_s=1)
        where = fading.steps[3].value
        plan = policy.plan_hold(MUTE, Reading(where, False), fading.memory)
        self.assertEqual(plan.memory.user, USER)

    def test_a_reading_from_a_statefile_mid_fade_counts_as_ours(self):
        fading = policy.plan_open(Reading(-23.0, True), Memory(USER, None, None, True), fade_s=1)
        midway = fading.steps[4].value
        plan = policy.plan_open(Reading(midway, False), fading.memory, fade_s=0.4)
        self.assertEqual(sent(plan)[-1], ("volume", -23.0))


class SoftPauseTest(unittest.TestCase):

    def test_a_mute_with_a_fade_steps_down_then_mutes_and_play_climbs_back(self):
        plan = policy.plan_hold(MUTE, Reading(-20.0, False), NOTHING_HELD, fade_s=1.0)
        self.assertEqual(sent(plan), [("volume", -26.0), ("volume", -32.0), ("volume", -38.0),
                                      ("volume", -44.0), ("volume", -50.0), ("mute", True)])
        self.assertEqual(plan.steps[-1].at, 1.0)
        back = policy.plan_open(Reading(-50.0, True), plan.memory, None, 0.4)
        self.assertEqual(sent(back), [("mute", False), ("volume", -35.0), ("volume", -20.0)])


class SourceVolumeTest(unittest.TestCase):
    """-camilladsp-source-volume: the restore for a source adds its offset, without drift."""

    HELD = Memory(Reading(-20.0, False), None, None, True)

    def test_the_offset_is_added_kept_and_taken_off_for_another_source(self):
        spotify = policy.plan_open(Reading(-20.0, True), self.HELD, None, 0.0, offset=-3.0)
        self.assertEqual(sent(spotify), [("volume", -23.0), ("mute", False)])
        self.assertFalse(spotify.releases)
        self.assertEqual((spotify.memory.user.volume, spotify.memory.offset), (-20.0, -3.0))
        # A pause and a play of Spotify again: still -23, never -26.
        hold = policy.plan_hold(MUTE, Reading(-23.0, False), spotify.memory)
        again = policy.plan_open(Reading(-23.0, True), hold.memory, None, 0.0, offset=-3.0)
        self.assertEqual(sent(again), [("mute", False)])
        # Plexamp plays next: the user's own volume, and nothing held any more.
        plex = policy.plan_open(Reading(-23.0, False), again.memory, None, 0.0)
        self.assertEqual(sent(plex), [("volume", -20.0)])
        self.assertTrue(plex.releases)

    def test_the_knob_turned_while_the_offset_holds_moves_the_users_volume(self):
        spotify = policy.plan_open(Reading(-20.0, True), self.HELD, None, 0.0, offset=-3.0)
        # The user turns Spotify down to -30: their own volume is now -27.
        plex = policy.plan_open(Reading(-30.0, False), spotify.memory, None, 0.0)
        self.assertEqual(sent(plex), [("volume", -27.0)])

    def test_the_cap_still_holds(self):
        plan = policy.plan_open(Reading(-8.0, True), Memory(Reading(-8.0, False), None, None,
                                                            True), -10.0, 0.0, offset=6.0)
        self.assertEqual(sent(plan), [("volume", -10.0), ("mute", False)])


class KeptMemoryTest(unittest.TestCase):

    def test_what_is_held_survives_as_text_and_anything_else_is_nothing(self):
        held = Memory(Reading(-23.0, False), -53.0, -23.0, True, -3.0)
        self.assertEqual(policy.memory_of(policy.memory_text(held)), held)
        self.assertEqual(policy.memory_of(policy.memory_text(NOTHING_HELD)), NOTHING_HELD)
        for text in ("", "null", "[]", '{"user": [1]}', '{"user": ["x", 1], "low": null, '
                     '"high": null, "muted": true, "offset": 0}',
                     '{"user": [NaN, false], "low": null, "high": null, "muted": true, '
                     '"offset": 0}'):
            with self.subTest(text=text):
                self.assertEqual(policy.memory_of(text), NOTHING_HELD)


class FailureTest(unittest.TestCase):
    """What is still sent after a step CamillaDSP refused: never a dip and a climb, never loud."""

    FADE = [Step(0.2, "volume", -43.0), Step(0.4, "volume", -33.0), Step(0.6, "volume", -23.0)]
    UNMUTE = Step(0.0, "mute", False)

    def test_table(self):
        start = Step(0.0, "volume", -53.0)
        for name, failed, steps, volume, muted, kept in (
                ("the start of a fade while muted: unmute at once, no fade",
                 start, [self.UNMUTE] + self.FADE, -23.0, True, [self.UNMUTE]),
                ("the start below a cap while muted above it: stay muted",
                 Step(0.0, "volume", -10.0), [self.UNMUTE], 0.0, True, []),
                ("a step in the middle of a fade: skipped, the rest goes on",
                 self.FADE[0], self.FADE[1:], -53.0, False, self.FADE[1:]),
                ("a mute: nothing else to drop", Step(0.0, "mute", True), [], -23.0, False, []),
                ("an unmute: the later volumes still go",
                 self.UNMUTE, self.FADE, -53.0, True, self.FADE)):
            with self.subTest(name):
                self.assertEqual(policy.after_failure(failed, steps, volume, muted), kept)


class ReconnectTest(unittest.TestCase):
    """A new connection's first reading, while the daemon holds the volume down."""

    HELD = Memory(Reading(-23.0, False), None, None, True)

    def test_louder_than_the_users_volume_is_not_the_users(self):
        memory = policy.after_reconnect(self.HELD, Reading(0.0, False))  # no statefile: 0 dB
        plan = policy.plan_open(Reading(0.0, False), memory, None, 0.0)
        self.assertEqual(sent(plan), [("volume", -23.0)])

    def test_quieter_is_the_users(self):
        memory = policy.after_reconnect(self.HELD, Reading(-40.0, True))
        self.assertEqual(memory, self.HELD)
        plan = policy.plan_open(Reading(-40.0, True), memory, None, 0.0)
        self.assertEqual(sent(plan), [("mute", False)])
        self.assertEqual(plan.memory.user.volume, -40.0)

    def test_nothing_held_is_left_alone(self):
        self.assertIs(policy.after_reconnect(NOTHING_HELD, Reading(0.0, False)), NOTHING_HELD)


class SoundTest(unittest.TestCase):
    def test_silence_reads_far_below_the_threshold(self):
        self.assertFalse(policy.sound_arrives([-100.0, -120.0]))
        self.assertFalse(policy.sound_arrives([]))
        self.assertTrue(policy.sound_arrives([-100.0, -20.0]))


if __name__ == "__main__":
    unittest.main()
